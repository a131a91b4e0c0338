package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/queuetest"
)

// errKilled stands for a worker process that dies at a given point: the
// call returns it and nothing after that point happens.
var errKilled = errors.New("the worker process was killed here")

// dyingDriver is a worker's driver whose process dies around its outcome
// writes: after the write has committed (afterWrite), or before it is
// sent (otherwise).
type dyingDriver struct {
	driver.Driver
	afterWrite bool
}

func (d *dyingDriver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	if d.afterWrite {
		if _, err := d.Driver.JobCompleteMany(ctx, p); err != nil {
			return nil, err
		}
	}
	return nil, errKilled
}

func (d *dyingDriver) JobFailMany(ctx context.Context, params []*driver.JobFailParams) ([]int64, error) {
	if d.afterWrite {
		if _, err := d.Driver.JobFailMany(ctx, params); err != nil {
			return nil, err
		}
	}
	return nil, errKilled
}

// dieAroundOutcomes plays a worker process that claims every job of the
// default queue, settles each as its handler would (batch items that ask
// to fail, fail), and dies around the outcome writes.
func dieAroundOutcomes(t *testing.T, h *opsHarness, afterWrite bool) []*driver.JobRow {
	t.Helper()
	ctx := context.Background()
	ops, err := queue.NewOps(h.raw, &queue.OpsConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ops.Close(ctx) })
	d := queue.WithHooks(&dyingDriver{Driver: h.raw, afterWrite: afterWrite}, ops)
	rows, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 100, WorkerID: "doomed", RetryAfter: time.Minute})
	require.NoError(t, err)
	var ok []*driver.JobRow
	var fails []*driver.JobFailParams
	for _, r := range rows {
		if r.Kind == (batchItemArgs{}).Kind() && asksToFail(t, r.Payload) {
			fails = append(fails, &driver.JobFailParams{ID: r.ID, WorkerID: "doomed", Claim: r.ClaimSeq, Exception: "item failed"})
		} else {
			ok = append(ok, r)
		}
	}
	if len(ok) > 0 {
		_, err = d.JobCompleteMany(ctx, driver.CompleteParamsOf(ok))
		require.ErrorIs(t, err, errKilled)
	}
	if len(fails) > 0 {
		_, err = d.JobFailMany(ctx, fails)
		require.ErrorIs(t, err, errKilled)
	}
	return rows
}

// asksToFail reports whether a batch item's args ask it to fail.
func asksToFail(t *testing.T, payload []byte) bool {
	t.Helper()
	p, err := queue.DecodePayload(payload)
	require.NoError(t, err)
	var args batchItemArgs
	require.NoError(t, json.Unmarshal(p.Data, &args))
	return args.Fail
}

// later returns a worker whose clock runs two minutes ahead, so that the
// leases of a worker that died now have run out for it.
func (h *opsHarness) later(t *testing.T) *queue.Client {
	t.Helper()
	ops, err := queue.NewOps(h.raw, &queue.OpsConfig{PauseRefresh: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ops.Close(context.Background()) })
	c, err := queue.NewClient(queue.WithHooks(h.raw, ops), &queue.Config{
		Workers: h.ws, Location: time.UTC, Clock: queuetest.NewClock(time.Now().Add(2 * time.Minute)),
	})
	require.NoError(t, err)
	return c
}

// TestBatchSurvivesAWorkerKilledAfterTheOutcome: a worker that dies after
// writing its jobs' outcomes and before anything else loses neither the
// batch's counters nor its callbacks, because they were written first.
func TestBatchSurvivesAWorkerKilledAfterTheOutcome(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		cc := h.batchWorkers()
		ctx := context.Background()
		c, _ := h.worker(nil)
		bt, err := c.Batch(batchItemArgs{N: 1}, batchItemArgs{N: 2, Fail: true}).AllowFailures().
			Then(batchCallbackArgs{Name: "then"}).Catch(batchCallbackArgs{Name: "catch"}).
			Finally(batchCallbackArgs{Name: "finally"}).Dispatch(ctx)
		require.NoError(t, err)

		dieAroundOutcomes(t, h, true)
		got, err := c.BatchFind(ctx, bt.ID)
		require.NoError(t, err)
		require.Equal(t, 1, got.PendingJobs, "the failed job stays pending, as in Laravel")
		require.Equal(t, 1, got.FailedJobs)
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs WHERE batch_id = ?", bt.ID), "the outcomes were written")

		h.runUntilEmpty(c, opsParams("default"))
		require.Equal(t, map[string]int{"catch": 1, "finally": 1}, cc.counts())
	})
}

// TestBatchSurvivesAWorkerKilledBeforeTheOutcome: a worker that dies after
// recording its jobs in their batch and before writing their outcomes has
// them run again by another worker after their lease; the second record
// changes nothing, so no counter moves twice and no callback runs twice.
func TestBatchSurvivesAWorkerKilledBeforeTheOutcome(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		cc := h.batchWorkers()
		ctx := context.Background()
		c, _ := h.worker(nil)
		bt, err := c.Batch(batchItemArgs{N: 1}, batchItemArgs{N: 2, Fail: true}).AllowFailures().
			Then(batchCallbackArgs{Name: "then"}).Catch(batchCallbackArgs{Name: "catch"}).
			Finally(batchCallbackArgs{Name: "finally"}).Dispatch(ctx)
		require.NoError(t, err)

		rows := dieAroundOutcomes(t, h, false)
		require.Len(t, rows, 2)
		require.Equal(t, 2, h.count("SELECT COUNT(*) FROM jobs WHERE batch_id = ? AND reserved_by = 'doomed'", bt.ID))

		h.runUntilEmpty(h.later(t), opsParams("default"))
		got, err := c.BatchFind(ctx, bt.ID)
		require.NoError(t, err)
		require.Equal(t, 1, got.PendingJobs)
		require.Equal(t, 1, got.FailedJobs, "the job that failed twice counts once")
		require.Len(t, got.FailedJobIDs, 1)
		require.Equal(t, map[string]int{"catch": 1, "finally": 1}, cc.counts())
		cc.mu.Lock()
		require.Equal(t, 2, cc.items, "each job ran again once, in the second worker")
		cc.mu.Unlock()
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM failed_jobs"))
	})
}

// TestOverlapLockOfAFinishedJobIsTakenOver: a worker that dies after
// writing a job's outcome and before freeing its WithoutOverlapping lock
// does not hold the lock until it expires an hour later: the next job with
// the key sees that the holder's attempt is over and takes it.
func TestOverlapLockOfAFinishedJobIsTakenOver(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		ctx := context.Background()
		var ran atomic.Int32
		queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[overlapArgs]) error {
			ran.Add(1)
			return nil
		}))
		mw := func(a overlapArgs) []queue.Middleware {
			return []queue.Middleware{queue.WithoutOverlapping("booking:"+strconv.Itoa(a.Booking), time.Second)}
		}
		// The first worker takes the lock with its job, writes the job's
		// outcome and dies before freeing the lock.
		opsA, err := queue.NewOps(h.raw, &queue.OpsConfig{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = opsA.Close(ctx) })
		queue.AddMiddleware(opsA, mw)
		a, err := queue.NewClient(queue.WithHooks(&dyingDriver{Driver: h.raw, afterWrite: true}, opsA), &queue.Config{Workers: h.ws, Location: time.UTC})
		require.NoError(t, err)
		_, err = a.Insert(ctx, overlapArgs{Booking: 7}, &queue.InsertOpts{Tries: 1})
		require.NoError(t, err)
		hooked := queue.WithHooks(&dyingDriver{Driver: h.raw, afterWrite: true}, opsA)
		rows, err := hooked.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "doomed", RetryAfter: time.Minute})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		_, err = hooked.JobCompleteMany(ctx, driver.CompleteParamsOf(rows))
		require.ErrorIs(t, err, errKilled)
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM cache_locks"), "the dead worker's lock is left behind")

		// Another worker runs the next job with the same key at once.
		b, opsB := h.worker(nil)
		queue.AddMiddleware(opsB, mw)
		_, err = b.Insert(ctx, overlapArgs{Booking: 7}, &queue.InsertOpts{Tries: 1})
		require.NoError(t, err)
		h.runUntilEmpty(b, opsParams("default"))
		require.EqualValues(t, 1, ran.Load(), "the second job ran")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM cache_locks"))
	})
}

// TestStaleWorkerLeavesTheBatchAlone: a worker that lost a batch job's
// lease (another took it over) records nothing in the batch when its run
// of the job ends: no counter moves, the batch is not cancelled and no
// catch callback is dispatched; the job's holder decides.
func TestStaleWorkerLeavesTheBatchAlone(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		cc := h.batchWorkers()
		ctx := context.Background()
		c, _ := h.worker(nil)
		bt, err := c.Batch(batchItemArgs{N: 1, Fail: true}).
			Catch(batchCallbackArgs{Name: "catch"}).Then(batchCallbackArgs{Name: "then"}).Dispatch(ctx)
		require.NoError(t, err)

		ops, err := queue.NewOps(h.raw, &queue.OpsConfig{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ops.Close(ctx) })
		stalled := queue.WithHooks(h.raw, ops)
		now, err := h.raw.Now(ctx)
		require.NoError(t, err)
		rows, err := stalled.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "stalled", RetryAfter: time.Minute, Now: now.Add(-5 * time.Minute)})
		require.NoError(t, err)
		require.Len(t, rows, 0, "the batch job is not available five minutes ago")
		rows, err = stalled.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "stalled", RetryAfter: time.Second, Now: now})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		taken, err := h.raw.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "holder", RetryAfter: time.Hour, Now: now.Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, taken, 1, "the stalled worker's lease has passed")

		stale, err := stalled.JobFailMany(ctx, []*driver.JobFailParams{{ID: rows[0].ID, WorkerID: "stalled", Claim: rows[0].ClaimSeq, Exception: "item failed"}})
		require.NoError(t, err)
		require.Equal(t, []int64{rows[0].ID}, stale)
		got, err := c.BatchFind(ctx, bt.ID)
		require.NoError(t, err)
		require.Equal(t, 0, got.FailedJobs, "the stalled worker's failure was not counted")
		require.False(t, got.Cancelled())
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM failed_jobs"))
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM job_batch_outcomes"))
		require.Empty(t, cc.counts())
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM jobs"), "no catch callback was dispatched")
	})
}
