package queue_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// slowHeartbeats is a driver whose heartbeats take a while, as on a busy
// database.
type slowHeartbeats struct {
	driver.Driver
	delay time.Duration
}

func (s *slowHeartbeats) JobHeartbeatMany(ctx context.Context, p *driver.JobHeartbeatParams) ([]int64, error) {
	time.Sleep(s.delay)
	return s.Driver.JobHeartbeatMany(ctx, p)
}

type longArgs struct {
	MS int `json:"ms"`
}

func (longArgs) Kind() string { return "TestLong" }

// TestStartMarksDoNotStarveRenewals: while short jobs keep arriving, the
// heartbeats that mark them started go out every second; when heartbeats
// are slow, a renewal that falls due while one is under way is sent after
// it, never dropped, so jobs longer than the lease keep their leases and
// finish.
func TestStartMarksDoNotStarveRenewals(t *testing.T) {
	t.Parallel()
	drv, _ := queuetest.Driver(t, sqldb.SQLite)
	h := &harness{t: t, d: &slowHeartbeats{Driver: drv, delay: 1100 * time.Millisecond}, ws: queue.NewWorkers(), logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("engine log:\n%s", h.logs.String())
		}
	})
	var long atomic.Int32
	queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[longArgs]) error {
		select {
		case <-time.After(time.Duration(j.Args.MS) * time.Millisecond):
			if j.Args.MS > 1000 {
				long.Add(1)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	c := h.client(func(cfg *queue.Config) { cfg.RetryAfter = 6 * time.Second })
	ctx := context.Background()
	for range 2 {
		_, err := c.Insert(ctx, longArgs{MS: 12000}, nil)
		require.NoError(t, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
				_, _ = c.Insert(ctx, longArgs{MS: 800}, nil)
			}
		}
	}()
	h.start(c, params(func(p *queue.WorkParams) { p.Concurrency = 16 }))
	require.Eventually(t, func() bool { return long.Load() == 2 }, 60*time.Second, 50*time.Millisecond, "the long jobs finish")
	close(stop)
	wg.Wait()
	require.NotContains(t, h.logs.String(), "lease lost", "a lease was lost although every heartbeat succeeded")
}

// failingBookkeeping are hooks whose BeforeOutcome fails, for one job
// kind, the first few times.
type failingBookkeeping struct {
	kind  string
	fails atomic.Int32
	mu    sync.Mutex
	done  []string
}

func (f *failingBookkeeping) ClaimQueues(_ context.Context, q []string) []string { return q }
func (f *failingBookkeeping) BeforeRun(context.Context, *driver.JobRow) error    { return nil }
func (f *failingBookkeeping) BeforeOutcome(_ context.Context, row *driver.JobRow, _ queue.Outcome) error {
	if row.Kind == f.kind && f.fails.Add(-1) >= 0 {
		return errors.New("bookkeeping storage unavailable")
	}
	return nil
}
func (f *failingBookkeeping) AfterRun(_ context.Context, row *driver.JobRow, o queue.Outcome) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.Status == queue.OutcomeSucceeded {
		f.done = append(f.done, row.Kind)
	}
}

type otherArgs struct{}

func (otherArgs) Kind() string { return "TestOther" }

// TestFailingBookkeepingHoldsBackOnlyItsJob: when the bookkeeping before
// one job's outcome fails, only that job's outcome waits for a retry; the
// outcomes of the jobs claimed with it go through at once.
func TestFailingBookkeepingHoldsBackOnlyItsJob(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		hooks := &failingBookkeeping{kind: (longArgs{}).Kind()}
		// Five failures hold its outcome back for a few hundred
		// milliseconds of retries, far longer than the others take.
		hooks.fails.Store(5)
		queue.AddWorker(h.ws, queue.WorkFunc(func(context.Context, *queue.Job[longArgs]) error { return nil }))
		queue.AddWorker(h.ws, queue.WorkFunc(func(context.Context, *queue.Job[otherArgs]) error { return nil }))
		c, err := queue.NewClient(queue.WithHooks(h.d, hooks), h.config())
		require.NoError(t, err)
		ctx := context.Background()
		// It goes in first, so that the worker's first claim (four
		// slots) takes it with three others.
		_, err = c.Insert(ctx, longArgs{MS: 0}, nil)
		require.NoError(t, err)
		for range 5 {
			_, err := c.Insert(ctx, otherArgs{}, nil)
			require.NoError(t, err)
		}
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Zero(t, h.count("SELECT COUNT(*) FROM jobs"), "every job completed in the end")
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		require.Len(t, hooks.done, 6)
		at := slices.Index(hooks.done, (longArgs{}).Kind())
		require.GreaterOrEqual(t, at, 3, "the jobs claimed with it were written before it: %v", hooks.done)
		require.LessOrEqual(t, hooks.fails.Load(), int32(-1), "its bookkeeping was retried")
		require.Contains(t, h.logs.String(), "bookkeeping storage unavailable")
		require.GreaterOrEqual(t, strings.Count(h.logs.String(), "record finished jobs; retrying"), 3)
	})
}

// TestLeaseHeldWhileBookkeepingIsRetried: a job whose outcome waits on
// failing bookkeeping for longer than the lease keeps its lease, renewed
// like a running job's, so the worker does not claim and run it again.
func TestLeaseHeldWhileBookkeepingIsRetried(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		hooks := &failingBookkeeping{kind: (longArgs{}).Kind()}
		// Eight failures hold its outcome back for about 2.5 s of
		// retries: more than two leases of one second.
		hooks.fails.Store(8)
		var runs atomic.Int32
		queue.AddWorker(h.ws, queue.WorkFunc(func(context.Context, *queue.Job[longArgs]) error {
			runs.Add(1)
			return nil
		}))
		c, err := queue.NewClient(queue.WithHooks(h.d, hooks), h.config(func(cfg *queue.Config) { cfg.RetryAfter = time.Second }))
		require.NoError(t, err)
		ctx := context.Background()
		_, err = c.Insert(ctx, longArgs{MS: 0}, nil)
		require.NoError(t, err)
		h.start(c, params())
		require.Eventually(t, func() bool { return h.count("SELECT COUNT(*) FROM jobs") == 0 }, 30*time.Second, 20*time.Millisecond,
			"the job's outcome is written in the end")
		require.LessOrEqual(t, hooks.fails.Load(), int32(-1), "its bookkeeping was retried")
		require.Equal(t, int32(1), runs.Load(), "the job ran again while its outcome was retried")
		require.NotContains(t, h.logs.String(), "lease lost")
	})
}
