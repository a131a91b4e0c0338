package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
)

type batchItemArgs struct {
	N    int  `json:"n"`
	Fail bool `json:"fail,omitempty"`
}

func (batchItemArgs) Kind() string { return "OpsBatchItem" }

type batchCallbackArgs struct {
	Name string `json:"name"`
}

func (batchCallbackArgs) Kind() string { return "OpsBatchCallback" }

// callbackCounter counts the callback jobs run, by name, with the batch
// each was dispatched for.
type callbackCounter struct {
	mu      sync.Mutex
	byName  map[string]int
	batches map[string]string
	items   int
}

func (h *opsHarness) batchWorkers() *callbackCounter {
	cc := &callbackCounter{byName: map[string]int{}, batches: map[string]string{}}
	queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[batchItemArgs]) error {
		cc.mu.Lock()
		cc.items++
		cc.mu.Unlock()
		if j.Args.Fail {
			return queue.Permanent(errors.New("item failed"))
		}
		return nil
	}))
	queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[batchCallbackArgs]) error {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		cc.byName[j.Args.Name]++
		cc.batches[j.Args.Name] = queue.BatchIDOf(j.JobRow)
		return nil
	}))
	return cc
}

func (cc *callbackCounter) counts() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	out := map[string]int{}
	for k, v := range cc.byName {
		out[k] = v
	}
	return out
}

func TestBatchCallbacksFireOnceWithConcurrentWorkers(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		cc := h.batchWorkers()
		ctx := context.Background()
		a, _ := h.worker(nil)
		b, _ := h.worker(nil)

		var items []queue.JobArgs
		for i := range 40 {
			items = append(items, batchItemArgs{N: i, Fail: i%10 == 3})
		}
		mixed, err := a.Batch(items...).Name("mixed").AllowFailures().
			Then(batchCallbackArgs{Name: "mixed-then"}).
			Catch(batchCallbackArgs{Name: "mixed-catch"}).
			Finally(batchCallbackArgs{Name: "mixed-finally"}).Dispatch(ctx)
		require.NoError(t, err)
		require.Equal(t, 40, mixed.TotalJobs)

		var good []queue.JobArgs
		for i := range 30 {
			good = append(good, batchItemArgs{N: i})
		}
		clean, err := a.Batch(good...).Name("clean").
			Then(batchCallbackArgs{Name: "clean-then"}).
			Catch(batchCallbackArgs{Name: "clean-catch"}).
			Finally(batchCallbackArgs{Name: "clean-finally"}).Dispatch(ctx)
		require.NoError(t, err)

		// Two worker processes with 8 slots each race through both batches.
		var wg sync.WaitGroup
		for _, c := range []*queue.Client{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := opsParams("default")
				p.Concurrency = 8
				h.runUntilEmpty(c, p)
			}()
		}
		wg.Wait()
		// A callback dispatched as the last worker was stopping is worked now.
		h.runUntilEmpty(a, opsParams("default"))

		require.Equal(t, map[string]int{"mixed-catch": 1, "mixed-finally": 1, "clean-then": 1, "clean-finally": 1}, cc.counts())
		cc.mu.Lock()
		require.Equal(t, mixed.ID, cc.batches["mixed-catch"])
		require.Equal(t, clean.ID, cc.batches["clean-then"])
		cc.mu.Unlock()

		got, err := a.BatchFind(ctx, mixed.ID)
		require.NoError(t, err)
		require.Equal(t, 4, got.PendingJobs)
		require.Equal(t, 4, got.FailedJobs)
		require.Len(t, got.FailedJobIDs, 4)
		require.False(t, got.Cancelled())
		require.Equal(t, 90, got.Progress())
		got, err = a.BatchFind(ctx, clean.ID)
		require.NoError(t, err)
		require.True(t, got.Finished())
		require.Equal(t, 100, got.Progress())
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
	})
}

func TestCancelledBatchJobsAreSkipped(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		cc := h.batchWorkers()
		ctx := context.Background()
		c, _ := h.worker(nil)
		bt, err := c.Batch(batchItemArgs{N: 1}, batchItemArgs{N: 2}, batchItemArgs{N: 3}).
			Then(batchCallbackArgs{Name: "then"}).Finally(batchCallbackArgs{Name: "finally"}).Dispatch(ctx)
		require.NoError(t, err)
		_, err = c.BatchCancel(ctx, bt.ID)
		require.NoError(t, err)
		h.runUntilEmpty(c, opsParams("default"))
		cc.mu.Lock()
		require.Equal(t, 0, cc.items, "jobs of a cancelled batch ran")
		cc.mu.Unlock()
		require.Equal(t, map[string]int{"finally": 1}, cc.counts())
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
	})
}

func TestFirstFailureCancelsStrictBatch(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		cc := h.batchWorkers()
		ctx := context.Background()
		c, _ := h.worker(nil)
		bt, err := c.Batch(batchItemArgs{N: 1, Fail: true}).
			Catch(batchCallbackArgs{Name: "catch"}).Then(batchCallbackArgs{Name: "then"}).Dispatch(ctx)
		require.NoError(t, err)
		h.runUntilEmpty(c, opsParams("default"))
		got, err := c.BatchFind(ctx, bt.ID)
		require.NoError(t, err)
		require.True(t, got.Cancelled())
		require.Equal(t, []string{got.FailedJobIDs[0]}, got.FailedJobIDs)
		require.Equal(t, map[string]int{"catch": 1}, cc.counts())
		// The failed job keeps its batch in failed_jobs, so a retry that
		// succeeds counts for the batch.
		_, err = h.adm.FailedRetry(ctx, &driverRetryAll)
		require.NoError(t, err)
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM jobs WHERE batch_id = ?", bt.ID))
	})
}
