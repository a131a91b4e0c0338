package dbdriver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

func TestLocksAndRateLimits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		ok, err := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "a", TTL: time.Minute})
		if err != nil || !ok {
			t.Fatalf("first acquire = %v, %v", ok, err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "b", TTL: time.Minute}); ok {
			t.Fatal("b took a's lock")
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "a", TTL: time.Minute}); !ok {
			t.Fatal("a could not take its own lock again")
		}
		if owner, held, err := adm.LockOwner(ctx, "k"); err != nil || !held || owner != "a" {
			t.Fatalf("LockOwner = %q, %v, %v; want a", owner, held, err)
		}
		if _, held, err := adm.LockOwner(ctx, "nobody"); err != nil || held {
			t.Fatalf("LockOwner of a free lock = %v, %v", held, err)
		}
		if err := adm.LockRelease(ctx, "k", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "b", TTL: time.Minute}); ok {
			t.Fatal("b's release freed a's lock")
		}
		if err := adm.LockRelease(ctx, "k", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "b", TTL: time.Minute}); !ok {
			t.Fatal("b could not take the released lock")
		}
		// An expired lock is taken over.
		if _, err := db.ExecContext(ctx, "UPDATE cache_locks SET expiration = 1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "c", TTL: time.Minute}); !ok {
			t.Fatal("c could not take the expired lock")
		}

		// 3 per hour, 10 concurrent hits: exactly 3 allowed.
		var allowed, denied int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: "smtp", Limit: 3, Period: time.Hour})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if r.Allowed {
					allowed++
				} else {
					denied++
					if r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
						t.Errorf("retry after = %v", r.RetryAfter)
					}
				}
			}()
		}
		wg.Wait()
		if allowed != 3 || denied != 7 {
			t.Fatalf("allowed %d denied %d, want 3 and 7", allowed, denied)
		}
		// A new window starts afresh.
		if _, err := db.ExecContext(ctx, "UPDATE queue_rate_limits SET window_start = window_start - 3600"); err != nil {
			t.Fatal(err)
		}
		if r, _ := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: "smtp", Limit: 3, Period: time.Hour}); r == nil || !r.Allowed || r.Remaining != 2 {
			t.Fatalf("new window = %+v", r)
		}
	})
}
