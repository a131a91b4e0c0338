package tripinredis

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

type engineArgs struct {
	N    int  `json:"n"`
	Fail bool `json:"fail,omitempty"`
}

func (engineArgs) Kind() string { return "RedisEngineTest" }

// TestEngineEndToEnd runs the queue engine over the Redis driver, wrapped
// with the operations layer as `queue work` wraps it: jobs inserted
// directly, in a committed transaction and in a rolled-back one, a delayed
// job and a job that fails for good. Every committed job runs exactly
// once, the rolled-back one never, the failure lands in failed_jobs and
// runs again once retried from there.
func TestEngineEndToEnd(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		runs  = map[int]int{}
		heal  bool
		ws    = queue.NewWorkers()
		total = 200
	)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[engineArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		runs[j.Args.N]++
		if j.Args.Fail && !heal {
			return queue.Permanent(errors.New("smtp: 550 no such user"))
		}
		return nil
	}))
	ops, err := queue.NewOps(d, &queue.OpsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close(ctx)
	c, err := queue.NewClient(queue.WithHooks(d, ops), &queue.Config{Workers: ws, Connection: "redis", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	var ps []queue.InsertManyParams
	for n := 1; n <= total; n++ {
		ps = append(ps, queue.InsertManyParams{Args: engineArgs{N: n}})
	}
	if _, err := c.InsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	inTx := func(commit bool, args engineArgs, opts *queue.InsertOpts) {
		t.Helper()
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := c.InsertTx(ctx, tx, args, opts); err != nil {
				return err
			}
			if !commit {
				return errors.New("roll back")
			}
			return nil
		})
		if commit && err != nil {
			t.Fatal(err)
		}
	}
	inTx(true, engineArgs{N: 1001}, nil)
	inTx(false, engineArgs{N: 1002}, nil)
	inTx(true, engineArgs{N: 1003, Fail: true}, &queue.InsertOpts{Queue: "emails", Tries: 3})
	if _, err := c.Insert(ctx, engineArgs{N: 1004}, &queue.InsertOpts{Delay: time.Second}); err != nil {
		t.Fatal(err)
	}

	work := func() {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err := c.Run(rctx, queue.WorkParams{
			Queues: []string{"default", "emails"}, Concurrency: 4, StopWhenEmpty: true,
			Sleep: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond, RestartInterval: -1,
		})
		if err != nil || rctx.Err() != nil {
			t.Fatalf("run = %v (%v)", err, rctx.Err())
		}
	}
	// The delayed job is not available yet when the first run drains the
	// queues; a second run after its delay takes it.
	work()
	time.Sleep(2100 * time.Millisecond) // the jobs table's whole seconds: at most 2s
	work()

	mu.Lock()
	for n := 1; n <= total; n++ {
		if runs[n] != 1 {
			t.Errorf("job %d ran %d times, want once", n, runs[n])
		}
	}
	if runs[1001] != 1 || runs[1002] != 0 || runs[1003] != 1 || runs[1004] != 1 {
		t.Errorf("committed tx job ran %d times, rolled back %d, failing %d, delayed %d; want 1, 0, 1, 1",
			runs[1001], runs[1002], runs[1003], runs[1004])
	}
	heal = true
	mu.Unlock()

	failed, err := d.FailedList(ctx, nil)
	if err != nil || len(failed) != 1 {
		t.Fatalf("failed jobs = %+v, %v; want the permanent failure", failed, err)
	}
	if f := failed[0]; f.Connection != "redis" || f.Queue != "emails" {
		t.Fatalf("failed job = %+v", f)
	}
	if _, err := d.FailedRetry(ctx, &driver.FailedRetryParams{IDs: []string{failed[0].UUID}, DefaultMaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	work()
	mu.Lock()
	if runs[1003] != 2 {
		t.Errorf("the retried job ran %d times in all, want 2", runs[1003])
	}
	mu.Unlock()
	stats, err := d.QueueStats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Size() != 0 || s.Failed != 0 {
			t.Errorf("queue %s left with %+v", s.Queue, s)
		}
	}
	if n := countKeys(t, d, "job:*"); n != 0 {
		t.Errorf("%d job hashes left in redis", n)
	}
	if n := sqlJobCount(t, db); n != 0 {
		t.Errorf("%d outbox rows left in SQL", n)
	}
}
