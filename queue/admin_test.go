package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// opsHarness is a driver wrapped with the operations hooks, as a worker
// process runs it.
type opsHarness struct {
	t   *testing.T
	raw driver.Driver
	db  *sqldb.DB
	adm driver.Admin
	ws  *queue.Workers
}

func eachOps(t *testing.T, fn func(t *testing.T, h *opsHarness)) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		t.Parallel()
		drv, db := queuetest.Driver(t, d)
		adm, ok := drv.(driver.Admin)
		require.True(t, ok, "the %s driver does not implement driver.Admin", d)
		fn(t, &opsHarness{t: t, raw: drv, db: db, adm: adm, ws: queue.NewWorkers()})
	})
}

// worker returns a client over the hooked driver, and its Ops, closed at
// cleanup.
func (h *opsHarness) worker(cfg *queue.OpsConfig) (*queue.Client, *queue.Ops) {
	h.t.Helper()
	if cfg == nil {
		cfg = &queue.OpsConfig{}
	}
	if cfg.PauseRefresh == 0 {
		cfg.PauseRefresh = 20 * time.Millisecond
	}
	ops, err := queue.NewOps(h.raw, cfg)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = ops.Close(context.Background()) })
	c, err := queue.NewClient(queue.WithHooks(h.raw, ops), &queue.Config{Workers: h.ws, Location: time.UTC})
	require.NoError(h.t, err)
	return c, ops
}

func opsParams(queues ...string) queue.WorkParams {
	return queue.WorkParams{
		Queues: queues, Concurrency: 4, Sleep: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		RestartInterval: -1, StopTimeout: 5 * time.Second, StopWhenEmpty: true, Output: io.Discard,
	}
}

func (h *opsHarness) runUntilEmpty(c *queue.Client, p queue.WorkParams) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(h.t, c.Run(ctx, p))
	require.NoError(h.t, ctx.Err(), "Run did not stop on its own")
}

func (h *opsHarness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.QueryRowContext(context.Background(), h.db.Rebind(query), args...).Scan(&n))
	return n
}

// eventually polls cond for up to 15 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type flakyArgs struct {
	N int `json:"n"`
}

func (flakyArgs) Kind() string { return "OpsFlaky" }

func TestFailedJobRetriedEndToEnd(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		var broken atomic.Bool
		var runs atomic.Int32
		broken.Store(true)
		queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[flakyArgs]) error {
			runs.Add(1)
			if broken.Load() {
				return errors.New("smtp: 421 try later")
			}
			return nil
		}))
		c, _ := h.worker(nil)
		ctx := context.Background()
		_, err := c.Insert(ctx, flakyArgs{N: 7}, &queue.InsertOpts{Queue: "emails", Tries: 1})
		require.NoError(t, err)
		h.runUntilEmpty(c, opsParams("emails"))
		failed, err := h.adm.FailedList(ctx, nil)
		require.NoError(t, err)
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].Exception, "421 try later")
		require.Equal(t, "emails", failed[0].Queue)

		broken.Store(false)
		moved, err := h.adm.FailedRetry(ctx, &driver.FailedRetryParams{IDs: []string{failed[0].UUID}, DefaultMaxAttempts: 1})
		require.NoError(t, err)
		require.Len(t, moved, 1)
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM failed_jobs"))
		h.runUntilEmpty(c, opsParams("emails"))
		require.EqualValues(t, 2, runs.Load(), "the retried job ran again")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"), "and succeeded")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM failed_jobs"))
	})
}

type pausedArgs struct {
	Queue string `json:"queue"`
}

func (pausedArgs) Kind() string { return "OpsPaused" }

func TestPausedQueueLeftAloneUntilResumed(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		var mu sync.Mutex
		ran := map[string]int{}
		queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[pausedArgs]) error {
			mu.Lock()
			ran[j.Args.Queue]++
			mu.Unlock()
			return nil
		}))
		got := func(q string) int {
			mu.Lock()
			defer mu.Unlock()
			return ran[q]
		}
		ctx := context.Background()
		require.NoError(t, h.adm.QueuePause(ctx, "emails", "test"))
		c, _ := h.worker(nil)
		p := opsParams("emails", "default")
		p.StopWhenEmpty = false
		require.NoError(t, c.Start(ctx, p))
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.Stop(sctx)
		})
		for range 3 {
			_, err := c.Insert(ctx, pausedArgs{Queue: "emails"}, &queue.InsertOpts{Queue: "emails"})
			require.NoError(t, err)
		}
		_, err := c.Insert(ctx, pausedArgs{Queue: "default"}, &queue.InsertOpts{Queue: "default"})
		require.NoError(t, err)
		eventually(t, "the default job", func() bool { return got("default") == 1 })
		time.Sleep(300 * time.Millisecond)
		require.Equal(t, 0, got("emails"), "a paused queue's jobs ran")
		require.Equal(t, 3, h.count("SELECT COUNT(*) FROM jobs WHERE queue = 'emails' AND reserved_at IS NULL"))

		require.NoError(t, h.adm.QueueResume(ctx, "emails"))
		eventually(t, "the emails jobs after resume", func() bool { return got("emails") == 3 })
	})
}

func TestPruner(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		ctx := context.Background()
		require.NoError(t, h.adm.JobMetricsRecord(ctx, []*driver.JobMetric{{Queue: "q", Minute: time.Now().Add(-48 * time.Hour), Processed: 1}}))
		require.NoError(t, h.adm.CompletedRecord(ctx, []*driver.CompletedJob{{UUID: "u", Queue: "q", Kind: "k", CompletedAt: time.Now().Add(-48 * time.Hour)}}))
		p := queue.NewPruner(h.adm, queue.RetentionConfig{FailedJobs: time.Hour, Batches: time.Hour, CompletedJobs: 24 * time.Hour, Metrics: 24 * time.Hour}, nil)
		n, err := p.PruneOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
	})
}

func TestPruneJob(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		ctx := context.Background()
		queue.AddPruneWorker(h.ws, h.adm)
		require.NoError(t, h.adm.JobMetricsRecord(ctx, []*driver.JobMetric{{Queue: "q", Minute: time.Now().Add(-48 * time.Hour), Processed: 1}}))
		c, _ := h.worker(nil)
		_, err := c.Insert(ctx, queue.PruneArgs{MetricsHours: 24}, nil)
		require.NoError(t, err)
		h.runUntilEmpty(c, opsParams("default"))
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM job_metrics"))
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM failed_jobs"))
	})
}

// TestPrunerReportsEachTable: Prune reports each table's rows; metrics and
// history go in chunks through a driver.ChunkPruner, or in one statement
// through an Admin without it; a negative Processes keeps dead processes.
func TestPrunerReportsEachTable(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		ctx := context.Background()
		reg, ok := h.adm.(driver.Registry)
		require.True(t, ok)
		require.NoError(t, reg.ProcessHeartbeat(ctx, &driver.Process{ID: "dead", Kind: driver.ProcessWorker, Host: "h", PID: 1}))
		_, err := h.db.ExecContext(ctx, "UPDATE queue_processes SET last_heartbeat = last_heartbeat - 7200")
		require.NoError(t, err)
		_, chunked := h.adm.(driver.ChunkPruner)
		require.True(t, chunked, "the SQL drivers prune in chunks")
		for name, adm := range map[string]driver.Admin{"chunks": h.adm, "one statement": struct{ driver.Admin }{h.adm}} {
			old := time.Now().Add(-48 * time.Hour)
			var points []*driver.JobMetric
			var done []*driver.CompletedJob
			for i := range 5 {
				points = append(points, &driver.JobMetric{Queue: fmt.Sprint("q", i), Minute: old, Processed: 1})
				done = append(done, &driver.CompletedJob{UUID: fmt.Sprint(name, i), Queue: "q", Kind: "k", CompletedAt: old})
			}
			points = append(points, &driver.JobMetric{Queue: "q0", Minute: time.Now(), Processed: 1})
			require.NoError(t, h.adm.JobMetricsRecord(ctx, points))
			require.NoError(t, h.adm.CompletedRecord(ctx, done))
			p := queue.NewPruner(adm, queue.RetentionConfig{CompletedJobs: 24 * time.Hour, Metrics: 24 * time.Hour, Processes: -1, ChunkSize: 2}, nil)
			got := map[string]int{}
			for _, r := range p.Prune(ctx) {
				require.NoError(t, r.Err, name)
				got[r.Table] = r.Rows
			}
			require.Equal(t, map[string]int{"completed_jobs": 5, "job_metrics": 5, "job_class_metrics": 0, "job_class_metrics (minutes into hours)": 0}, got, name)
			require.Equal(t, 1, h.count("SELECT COUNT(*) FROM job_metrics"), name)
		}
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM queue_processes"), "a negative Processes keeps them")
	})
}
