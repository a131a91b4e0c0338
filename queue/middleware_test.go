package queue_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

var driverRetryAll = driver.FailedRetryParams{All: true}

type overlapArgs struct {
	Booking int `json:"booking"`
}

func (overlapArgs) Kind() string { return "OpsOverlap" }

func TestWithoutOverlappingAcrossWorkers(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		var running, peak, done atomic.Int32
		queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[overlapArgs]) error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(150 * time.Millisecond)
			running.Add(-1)
			done.Add(1)
			return nil
		}))
		ctx := context.Background()
		var clients []*queue.Client
		for range 2 {
			c, ops := h.worker(nil)
			queue.AddMiddleware(ops, func(a overlapArgs) []queue.Middleware {
				return []queue.Middleware{queue.WithoutOverlapping("booking:"+strconv.Itoa(a.Booking), time.Second)}
			})
			clients = append(clients, c)
		}
		for range 3 {
			_, err := clients[0].Insert(ctx, overlapArgs{Booking: 1}, &queue.InsertOpts{Tries: 1})
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			p := opsParams("default")
			p.StopWhenEmpty = false
			require.NoError(t, c.Start(ctx, p))
		}
		eventually(t, "all three jobs", func() bool { return done.Load() == 3 })
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_ = c.Stop(sctx)
			}()
		}
		wg.Wait()
		require.EqualValues(t, 1, peak.Load(), "two jobs with the same key ran at once")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM failed_jobs"), "releases used up attempts")
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM cache_locks"), "a lock was left behind")
	})
}

type limitedArgs struct{}

func (limitedArgs) Kind() string { return "OpsLimited" }

func TestRateLimited(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		var ran atomic.Int32
		queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[limitedArgs]) error {
			ran.Add(1)
			return nil
		}))
		c, ops := h.worker(nil)
		queue.AddMiddleware(ops, func(limitedArgs) []queue.Middleware {
			return []queue.Middleware{queue.RateLimited("smtp", 2, time.Hour)}
		})
		ctx := context.Background()
		for range 5 {
			_, err := c.Insert(ctx, limitedArgs{}, &queue.InsertOpts{Tries: 1})
			require.NoError(t, err)
		}
		h.runUntilEmpty(c, opsParams("default"))
		require.EqualValues(t, 2, ran.Load())
		now, err := h.raw.Now(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, h.count("SELECT COUNT(*) FROM jobs WHERE attempts = 0 AND available_at > ?", now.Unix()),
			"the jobs over the limit wait for the next window with their attempt given back")
	})
}
