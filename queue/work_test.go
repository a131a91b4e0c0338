package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

func TestWorkRunsJobsWithArgs(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cd := &countingDriver{Driver: h.d}
		h.d = cd
		var sum atomic.Int64
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			require.Equal(t, "Test", job.Kind)
			require.Equal(t, 1, job.Attempts)
			sum.Add(int64(job.Args.N))
			return nil
		})
		c := h.client()
		var ps []queue.InsertManyParams
		for i := 1; i <= 200; i++ {
			ps = append(ps, queue.InsertManyParams{Args: testArgs{N: i}})
		}
		_, err := c.InsertMany(context.Background(), ps)
		require.NoError(t, err)
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true; p.Concurrency = 8 })))
		require.Equal(t, 200, cs.len())
		require.EqualValues(t, 200*201/2, sum.Load())
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
		require.EqualValues(t, 200, cd.completed.Load())
		require.Less(t, cd.completes.Load(), int64(100), "completions are batched")
	})
}

func TestWorkStrictQueuePriority(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		var mu sync.Mutex
		var order []string
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			mu.Lock()
			order = append(order, job.Queue)
			mu.Unlock()
			return nil
		})
		c := h.client()
		for _, q := range []string{"low", "low", "high", "low", "high"} {
			h.insert(c, testArgs{}, &queue.InsertOpts{Queue: q})
		}
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) {
			p.Queues, p.Concurrency, p.StopWhenEmpty = []string{"high", "low"}, 1, true
		})))
		require.Equal(t, []string{"high", "high", "low", "low", "low"}, order)
	})
}

func TestWorkRetriesWithBackoff(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Attempts < 3 {
				return fmt.Errorf("attempt %d: %w", job.Attempts, errors.New("smtp: 421 try later"))
			}
			return nil
		})
		c := h.client()
		h.start(c, params())
		start := clock.Now()
		id := h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 3, Backoff: []time.Duration{10 * time.Second, 30 * time.Second}})

		require.Equal(t, 1, cs.next(t).Attempts)
		h.eventually(func() bool { return !h.job(id).reserved }, "first failure recorded")
		st := h.job(id)
		require.Equal(t, start.Unix()+10, st.availableAt)
		require.Contains(t, st.lastError, "smtp: 421 try later")
		clock.Advance(9 * time.Second)
		cs.none(t, 150*time.Millisecond)
		clock.Advance(time.Second)
		require.Equal(t, 2, cs.next(t).Attempts)

		h.eventually(func() bool { return !h.job(id).reserved }, "second failure recorded")
		require.Equal(t, start.Unix()+10+30, h.job(id).availableAt, "the second attempt uses the second backoff")
		clock.Advance(29 * time.Second)
		cs.none(t, 150*time.Millisecond)
		clock.Advance(time.Second)
		require.Equal(t, 3, cs.next(t).Attempts)
		h.eventually(func() bool { return !h.job(id).exists }, "third attempt completes the job")
		require.Empty(t, h.failedJobs())
	})
}

func TestWorkDefaultBackoffIsExponential(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return errors.New("nope") })
		c := h.client()
		h.start(c, params())
		id := h.insert(c, testArgs{}, &queue.InsertOpts{Tries: queue.TriesUnlimited})
		var delays []int64
		for attempt := 1; attempt <= 4; attempt++ {
			require.Equal(t, attempt, cs.next(t).Attempts)
			h.eventually(func() bool { return !h.job(id).reserved }, "failure recorded")
			d := h.job(id).availableAt - clock.Now().Unix()
			delays = append(delays, d)
			clock.Advance(time.Duration(d) * time.Second)
		}
		// 1s, 2s, 4s, 8s with ±10% jitter, rounded up to whole seconds.
		for i, d := range delays {
			base := int64(1) << i
			require.True(t, d >= base*9/10 && d <= base*11/10+1, "attempt %d: delay %ds", i+1, d)
		}
		require.Less(t, delays[0], delays[3])
	})
}

func TestWorkFailsAfterLastTry(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			return fmt.Errorf("send invoice: %w", errors.New("smtp: 421 busy"))
		})
		c := h.client()
		id := h.insert(c, testArgs{N: 1}, &queue.InsertOpts{Queue: "emails", Tries: 2, Backoff: []time.Duration{0}})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.Queues = []string{"emails"}; p.MaxJobs = 2 })))
		require.Equal(t, 2, cs.len())
		require.False(t, h.job(id).exists)
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		f := failed[0]
		require.Equal(t, "database", f.connection)
		require.Equal(t, "emails", f.queue)
		require.Contains(t, f.payload, f.uuid)
		require.Contains(t, f.exception, "send invoice: smtp: 421 busy")
		require.Contains(t, f.exception, "caused by *errors.errorString: smtp: 421 busy", "the whole chain is kept")
	})
}

func TestWorkKeepsEachAttemptsError(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			return fmt.Errorf("send invoice: attempt %d: %w", job.Attempts, errors.New("smtp: 421 busy"))
		})
		c := h.client()
		h.insert(c, testArgs{N: 1}, &queue.InsertOpts{Queue: "emails", Tries: 3, Backoff: []time.Duration{0}})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.Queues = []string{"emails"}; p.MaxJobs = 3 })))
		require.Equal(t, 3, cs.len())
		failed, err := h.d.(driver.FailedJobs).FailedList(context.Background(), &driver.FailedListParams{})
		require.NoError(t, err)
		require.Len(t, failed, 1)
		log := driver.ParseErrorLog(failed[0].ErrorLog)
		require.Len(t, log, 3, "one entry per attempt, the last one's included")
		for i, e := range log {
			require.Equal(t, i+1, e.Attempt)
			require.Contains(t, e.Error, fmt.Sprintf("send invoice: attempt %d: smtp: 421 busy", i+1))
			require.Contains(t, e.Error, "caused by *errors.errorString: smtp: 421 busy", "each entry is the whole chain")
			require.NotZero(t, e.At)
		}
	})
}

func TestWorkerTriesFlagAppliesToJobsWithoutTries(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return errors.New("x") })
		c := h.client()
		h.insert(c, testArgs{}, &queue.InsertOpts{Backoff: []time.Duration{0}})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.Tries = 3; p.StopWhenEmpty = true })))
		require.Equal(t, 3, cs.len())
		require.Len(t, h.failedJobs(), 1)
	})
}

func TestWorkPermanentErrorFailsNow(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			return queue.Permanent(fmt.Errorf("send invoice: %w", errors.New("smtp: 550 mailbox unavailable")))
		})
		c := h.client()
		h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 5})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 1, cs.len())
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].exception, "smtp: 550 mailbox unavailable")
	})
}

func TestWorkSnoozeKeepsTheAttempt(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Args.N == 0 {
				job.Args.N = 1 // not persisted: the snooze decision is the handler's
			}
			return nil
		})
		_ = cs
		snoozes := atomic.Int32{}
		ws := queue.NewWorkers()
		seen := make(chan int, 10)
		queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[testArgs]) error {
			seen <- job.Attempts
			if snoozes.Add(1) <= 2 {
				return queue.Snooze(time.Minute)
			}
			return nil
		}))
		h.ws = ws
		c := h.client()
		h.start(c, params())
		id := h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 1})
		for range 2 {
			require.Equal(t, 1, <-seen, "a snooze gives the attempt back")
			h.eventually(func() bool { return !h.job(id).reserved }, "snooze recorded")
			st := h.job(id)
			require.Equal(t, 0, st.attempts)
			require.Equal(t, clock.Now().Unix()+60, st.availableAt)
			clock.Advance(59 * time.Second)
			select {
			case <-seen:
				t.Fatal("snoozed job ran early")
			case <-time.After(100 * time.Millisecond):
			}
			clock.Advance(time.Second)
		}
		require.Equal(t, 1, <-seen)
		h.eventually(func() bool { return !h.job(id).exists }, "job completes after its snoozes")
		require.Empty(t, h.failedJobs())
	})
}

func TestWorkPanicFailsTheAttemptNotTheWorker(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Args.N == 1 {
				panic("boom")
			}
			return nil
		})
		c := h.client()
		h.insert(c, testArgs{N: 1}, nil)
		h.insert(c, testArgs{N: 2}, nil)
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true; p.Concurrency = 1 })))
		require.Equal(t, 2, cs.len(), "the worker survives the panic and works the next job")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].exception, "panic: boom")
		require.Contains(t, failed[0].exception, "goroutine ", "the stack is kept")
		require.Contains(t, failed[0].exception, "work_test.go", "the stack shows the handler")
	})
}

func TestWorkTimeoutCancelsContext(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			<-ctx.Done()
			return ctx.Err()
		})
		c := h.client()
		h.insert(c, testArgs{}, &queue.InsertOpts{Timeout: 100 * time.Millisecond})
		start := time.Now()
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Less(t, time.Since(start), 3*time.Second)
		require.Equal(t, 1, cs.len())
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].exception, "timed out after 100ms")
		require.Contains(t, failed[0].exception, "context deadline exceeded")
	})
}

func TestWorkAbandonsJobsIgnoringTimeout(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var noops atomic.Int32
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Args.N == 0 {
				noops.Add(1)
				return nil
			}
			<-release // ignores ctx
			return nil
		})
		c := h.client()
		stuck1 := h.insert(c, testArgs{N: 1}, &queue.InsertOpts{Timeout: 50 * time.Millisecond, Tries: 2, Backoff: []time.Duration{time.Hour}})
		stuck2 := h.insert(c, testArgs{N: 2}, &queue.InsertOpts{Timeout: 50 * time.Millisecond})
		err := h.run(c, params(func(p *queue.WorkParams) {
			p.Concurrency, p.AbandonGrace, p.MaxAbandoned = 2, 50*time.Millisecond, 2
		}))
		require.ErrorIs(t, err, queue.ErrTooManyAbandoned)

		st := h.job(stuck1)
		require.True(t, st.exists && !st.reserved, "abandoned job with tries left is retried")
		require.Equal(t, 1, st.attempts, "its attempt is recorded")
		require.Contains(t, st.lastError, "abandoned")
		require.False(t, h.job(stuck2).exists)
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].exception, "ignored cancellation; abandoned")
	})
}

func TestWorkReplacesAbandonedSlots(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var noops atomic.Int32
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Args.N == 0 {
				noops.Add(1)
				return nil
			}
			<-release
			return nil
		})
		c := h.client()
		h.insert(c, testArgs{N: 1}, &queue.InsertOpts{Timeout: 50 * time.Millisecond})
		h.start(c, params(func(p *queue.WorkParams) {
			p.Concurrency, p.AbandonGrace, p.MaxAbandoned = 1, 50*time.Millisecond, 5
		}))
		h.eventually(func() bool { return len(h.failedJobs()) == 1 }, "stuck job abandoned")
		h.insert(c, testArgs{}, nil)
		h.eventually(func() bool { return noops.Load() == 1 }, "the only slot was replaced")
	})
}

func TestGracefulStopFinishesRunningJob(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		var finished atomic.Bool
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			select {
			case <-time.After(300 * time.Millisecond):
				finished.Store(true)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		c := h.client()
		id := h.insert(c, testArgs{}, nil)
		other := h.insert(c, testArgs{}, &queue.InsertOpts{Delay: 200 * time.Millisecond})
		require.NoError(t, c.Start(context.Background(), params(func(p *queue.WorkParams) { p.Concurrency = 1 })))
		cs.next(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
		require.True(t, finished.Load(), "the running job finished")
		require.False(t, h.job(id).exists, "its completion was recorded before Stop returned")
		require.True(t, h.job(other).exists, "no new job was fetched")
		require.Equal(t, 1, cs.len())
	})
}

func TestStopTimeoutReleasesUnfinishedJobs(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Args.N == 1 {
				<-ctx.Done() // obeys cancellation
				return ctx.Err()
			}
			<-release // ignores it
			return nil
		})
		c := h.client()
		polite := h.insert(c, testArgs{N: 1}, &queue.InsertOpts{Tries: 1})
		stubborn := h.insert(c, testArgs{N: 2}, &queue.InsertOpts{Tries: 1})
		require.NoError(t, c.Start(context.Background(), params(func(p *queue.WorkParams) {
			p.Concurrency, p.StopTimeout, p.AbandonGrace = 2, 100*time.Millisecond, 100*time.Millisecond
		})))
		cs.next(t)
		cs.next(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		require.NoError(t, c.Stop(ctx))
		require.Less(t, time.Since(start), 2*time.Second)
		for _, id := range []int64{polite, stubborn} {
			st := h.job(id)
			require.True(t, st.exists, "released, not failed")
			require.False(t, st.reserved)
			require.Equal(t, 0, st.attempts, "no attempt charged")
		}
		require.Empty(t, h.failedJobs())
	})
}

func TestRestartSignalStopsAfterCurrentJobs(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			time.Sleep(200 * time.Millisecond)
			return nil
		})
		c := h.client()
		id := h.insert(c, testArgs{}, nil)
		done := make(chan error, 1)
		go func() {
			done <- c.Run(context.Background(), params(func(p *queue.WorkParams) { p.RestartInterval = 20 * time.Millisecond }))
		}()
		cs.next(t)
		require.NoError(t, h.d.CachePut(context.Background(), queue.RestartCacheKey, fmt.Sprint(time.Now().Unix()), 0))
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("worker did not exit after queue restart")
		}
		require.False(t, h.job(id).exists, "the current job finished first")
	})
}

func TestRestartSignalIgnoresOlderValue(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		require.NoError(t, h.d.CachePut(context.Background(), queue.RestartCacheKey, "1700000000", 0))
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		c := h.client()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		require.NoError(t, c.Run(ctx, params(func(p *queue.WorkParams) { p.RestartInterval = 20 * time.Millisecond })))
		require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "a signal older than the worker must not stop it")
	})
}

func TestRunLimits(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		c := h.client()
		for i := range 6 {
			h.insert(c, testArgs{N: i}, nil)
		}
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.MaxJobs = 3 })))
		require.Equal(t, 3, cs.len())
		require.Equal(t, 3, h.count("SELECT COUNT(*) FROM jobs"))

		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.Once = true })))
		require.Equal(t, 4, cs.len())
		require.Equal(t, 2, h.count("SELECT COUNT(*) FROM jobs"))

		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 6, cs.len())
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))

		start := time.Now()
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.MaxTime = 150 * time.Millisecond })))
		require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	})
}

func TestStopWhenEmptyWaitsForRetries(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Attempts == 1 {
				return errors.New("first attempt fails")
			}
			return nil
		})
		c := h.client()
		h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 2, Backoff: []time.Duration{0}})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 2, cs.len(), "an immediate retry is not an empty queue")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"))
	})
}

func TestMemoryLimit(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		err := h.run(c, params(func(p *queue.WorkParams) { p.MemoryLimit = 1 << 20 }))
		require.ErrorIs(t, err, queue.ErrMemoryExceeded)
	})
}

func TestInsertWakesOwnWorkers(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		c := h.client()
		// Polling alone would take ten seconds.
		h.start(c, params(func(p *queue.WorkParams) { p.Sleep, p.PollInterval = 10*time.Second, 10*time.Second }))
		time.Sleep(100 * time.Millisecond) // the worker has looked and is idle
		start := time.Now()
		h.insert(c, testArgs{}, nil)
		cs.next(t)
		require.Less(t, time.Since(start), time.Second)
	})
}

func TestPollingFindsJobsFromOtherProcesses(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		worker := h.client()
		h.start(worker, params(func(p *queue.WorkParams) { p.Sleep, p.PollInterval = 200*time.Millisecond, 20*time.Millisecond }))
		other := h.client() // a separate client: no in-process wake-up
		time.Sleep(50 * time.Millisecond)
		h.insert(other, testArgs{}, nil)
		cs.next(t)
	})
}

func TestDeadWorkersJobRunsAgainAfterLease(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		c := h.client(func(cfg *queue.Config) { cfg.RetryAfter = 30 * time.Second })
		id := h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 3})

		// A worker claims the job, starts it (its heartbeat is the start
		// mark) and dies without a word.
		rows, err := h.d.JobClaim(context.Background(), &driver.JobClaimParams{
			Queues: []string{"default"}, Max: 1, WorkerID: "dead-worker", RetryAfter: 30 * time.Second, Now: clock.Now(),
		})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		markStarted(t, h, rows, clock.Now())

		h.start(c, params())
		clock.Advance(29 * time.Second)
		cs.none(t, 200*time.Millisecond)
		clock.Advance(2 * time.Second)
		j := cs.next(t)
		require.Equal(t, id, j.ID)
		require.Equal(t, 2, j.Attempts, "the dead worker's attempt counts")
		h.eventually(func() bool { return !h.job(id).exists }, "rescued job completes")
	})
}

func TestDeadWorkersLastTryFails(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		c := h.client(func(cfg *queue.Config) { cfg.RetryAfter = 30 * time.Second })
		h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 1})
		rows, err := h.d.JobClaim(context.Background(), &driver.JobClaimParams{
			Queues: []string{"default"}, Max: 1, WorkerID: "dead-worker", RetryAfter: 30 * time.Second, Now: clock.Now(),
		})
		require.NoError(t, err)
		markStarted(t, h, rows, clock.Now())
		clock.Advance(31 * time.Second)
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 0, cs.len(), "a job past its tries does not run again")
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].exception, "attempted too many times")
	})
}

// TestLostClaimReplyKeepsTheAttempt: a claim whose reply never reached its
// worker (the job was reserved but never started, so never renewed) does
// not use up a one-try job: after the lease it runs, as its first attempt.
func TestLostClaimReplyKeepsTheAttempt(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		c := h.client(func(cfg *queue.Config) { cfg.RetryAfter = 30 * time.Second })
		id := h.insert(c, testArgs{}, &queue.InsertOpts{Tries: 1})
		_, err := h.d.JobClaim(context.Background(), &driver.JobClaimParams{
			Queues: []string{"default"}, Max: 1, WorkerID: "lost-reply", RetryAfter: 30 * time.Second, Now: clock.Now(),
		})
		require.NoError(t, err)
		clock.Advance(31 * time.Second)
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		j := cs.next(t)
		require.Equal(t, id, j.ID)
		require.Equal(t, 1, j.Attempts, "the lost claim gave its attempt back")
		require.Empty(t, h.failedJobs())
		require.False(t, h.job(id).exists, "the job completed")
	})
}

// markStarted renews the claims of jobs as their worker's first heartbeat
// would, which marks them started.
func markStarted(t *testing.T, h *harness, rows []*driver.JobRow, now time.Time) {
	t.Helper()
	p := driver.CompleteParamsOf(rows)
	lost, err := h.d.JobHeartbeatMany(context.Background(), &driver.JobHeartbeatParams{WorkerID: p.WorkerID, Jobs: p.Jobs, Lease: 30 * time.Second, Now: now})
	require.NoError(t, err)
	require.Empty(t, lost)
}

func TestHeartbeatKeepsLongJobLeased(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds")
	}
	each(t, func(t *testing.T, h *harness) {
		var runs atomic.Int32
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			runs.Add(1)
			time.Sleep(3 * time.Second)
			return nil
		})
		lease := func(cfg *queue.Config) { cfg.RetryAfter = 2 * time.Second }
		a, b := h.client(lease), h.client(lease)
		id := h.insert(a, testArgs{}, &queue.InsertOpts{Tries: 5, Timeout: queue.TimeoutNone})
		h.start(a, params())
		h.eventually(func() bool { return runs.Load() == 1 }, "job started")
		h.start(b, params())
		h.eventually(func() bool { return !h.job(id).exists }, "long job completes")
		require.EqualValues(t, 1, runs.Load(), "a live job is never taken twice")
	})
}

func TestRetryUntil(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return errors.New("down") })
		c := h.client()
		// Its next retry (in 60s) would be past retryUntil: fail now.
		h.insert(c, testArgs{N: 1}, &queue.InsertOpts{Tries: queue.TriesUnlimited, Backoff: []time.Duration{time.Minute},
			RetryUntil: clock.Now().Add(30 * time.Second)})
		// Already past retryUntil when it is taken: fail without running.
		h.insert(c, testArgs{N: 2}, &queue.InsertOpts{Tries: queue.TriesUnlimited, RetryUntil: clock.Now().Add(-time.Second)})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 1, cs.len())
		require.Equal(t, 1, cs.got[0].Args.N)
		failed := h.failedJobs()
		require.Len(t, failed, 2)
		require.True(t, strings.Contains(failed[0].exception+failed[1].exception, "past its retryUntil"))
	})
}

func TestUnknownKindIsRetriedThenFailed(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		h.insert(c, mailArgs{To: "x"}, &queue.InsertOpts{Queue: "default", Tries: 1})
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		failed := h.failedJobs()
		require.Len(t, failed, 1)
		require.Contains(t, failed[0].exception, `no worker registered for kind "SendTestMail"`)
	})
}

func TestJobLines(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			if job.Args.N == 1 {
				return errors.New("bad")
			}
			return nil
		})
		c := h.client()
		h.insert(c, testArgs{N: 0}, nil)
		h.insert(c, testArgs{N: 1}, nil)
		var text, js syncBuffer
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty, p.Concurrency, p.Output = true, 1, &text })))
		lines := strings.Split(strings.TrimRight(text.String(), "\n"), "\n")
		require.Len(t, lines, 4, text.String())
		require.Regexp(t, `^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d Test \.{10,} RUNNING$`, lines[0])
		require.Regexp(t, `^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d Test \.{10,} \d+\.\d\dms DONE$`, lines[1])
		require.Regexp(t, ` FAILED$`, lines[3])
		require.Len(t, lines[1], len(lines[0]), "lines are aligned")

		h.insert(c, testArgs{N: 0}, nil)
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty, p.Output, p.JSON = true, &js, true })))
		require.Regexp(t, `^\{"time":"[^"]+","status":"running","job":"Test","id":\d+,"uuid":"[0-9a-f-]{36}","queue":"default","attempt":1\}\n`+
			`\{"time":"[^"]+","status":"done","job":"Test","id":\d+,"uuid":"[0-9a-f-]{36}","queue":"default","attempt":1,"ms":[0-9.]+\}\n$`, js.String())
	})
}

func TestListenerWakesWorkerForOtherProcessesInserts(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		if _, ok := h.d.(driver.Listener); !ok {
			t.Skip("the driver pushes no insert events")
		}
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		worker := h.client()
		// Polling alone would take ten seconds.
		h.start(worker, params(func(p *queue.WorkParams) {
			p.Sleep, p.PollInterval, p.ListenPollInterval = 10*time.Second, 10*time.Second, 10*time.Second
		}))
		time.Sleep(500 * time.Millisecond) // listening
		other := h.client()
		start := time.Now()
		h.insert(other, testArgs{}, nil)
		cs.next(t)
		require.Less(t, time.Since(start), 2*time.Second)
	})
}

func TestStopUnderLoadLosesNoCompletion(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		var mu sync.Mutex
		done := map[int64]bool{}
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			time.Sleep(time.Millisecond)
			mu.Lock()
			done[job.ID] = true
			mu.Unlock()
			return nil
		})
		c := h.client()
		var ps []queue.InsertManyParams
		for i := range 3000 {
			ps = append(ps, queue.InsertManyParams{Args: testArgs{N: i}})
		}
		_, err := c.InsertMany(context.Background(), ps)
		require.NoError(t, err)
		require.NoError(t, c.Start(context.Background(), params(func(p *queue.WorkParams) { p.Concurrency = 20 })))
		h.eventually(func() bool { mu.Lock(); defer mu.Unlock(); return len(done) >= 300 }, "jobs under way")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))

		mu.Lock()
		defer mu.Unlock()
		left := h.count("SELECT COUNT(*) FROM jobs")
		require.Less(t, left, 3000-299, "stopped mid-run")
		require.Equal(t, 3000, left+len(done), "every job is either done and deleted or still queued")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs WHERE reserved_at IS NOT NULL"), "nothing is left reserved")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs WHERE attempts > 0"))
	})
}

// TestLostLeaseCancelsTheJob: when another worker takes a running job over
// (this one stalled past its lease, as far as the database can tell), the
// next heartbeat renews nothing, the job's context is cancelled at once
// with the lost lease as its cause, and the worker's late outcome changes
// nothing: the job stays with its new holder.
func TestLostLeaseCancelsTheJob(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		clock := h.withClock()
		causes := make(chan error, 1)
		cs := h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
		c := h.client(func(cfg *queue.Config) { cfg.RetryAfter = 3 * time.Second })
		id := h.insert(c, testArgs{}, nil)
		h.start(c, params())
		require.Equal(t, id, cs.next(t).ID)

		taken, err := h.d.JobClaim(ctx, &driver.JobClaimParams{
			Queues: []string{"default"}, Max: 1, WorkerID: "thief", RetryAfter: time.Hour, Now: clock.Now().Add(time.Minute),
		})
		require.NoError(t, err)
		require.Len(t, taken, 1, "the lease has passed by the injected clock")

		select {
		case cause := <-causes:
			require.ErrorContains(t, cause, "lease was lost")
		case <-time.After(10 * time.Second):
			t.Fatal("the job was not cancelled after its lease was taken over")
		}
		h.eventually(func() bool {
			return strings.Contains(h.logs.String(), "lease lost before the outcome was recorded")
		}, "the stale release is logged")
		var by string
		var attempts int
		require.NoError(t, h.db.QueryRowContext(ctx, h.db.Rebind("SELECT reserved_by, attempts FROM jobs WHERE id = ?"), id).Scan(&by, &attempts))
		require.Equal(t, "thief", by, "the new holder keeps the job")
		require.Equal(t, taken[0].Attempts, attempts)
		require.Contains(t, h.logs.String(), "lease lost; cancelling the job")
	})
}
