package tripinredis

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// TestRateLimitHit: concurrent hits on one key are allowed exactly Limit
// times in a window, the rest are told how long the window has left, and
// the window's key carries a TTL that ends with the window: nothing in
// Redis or in SQL is left to prune.
func TestRateLimitHit(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	var (
		mu              sync.Mutex
		allowed, denied int
		wg              sync.WaitGroup
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := d.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: "login:a", Limit: 3, Period: time.Hour})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if r.Allowed {
				allowed++
				return
			}
			denied++
			if r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
				t.Errorf("retry after = %v", r.RetryAfter)
			}
		}()
	}
	wg.Wait()
	if allowed != 3 || denied != 17 {
		t.Fatalf("allowed %d, denied %d; want 3 and 17", allowed, denied)
	}
	// Another key has its own window.
	if r, err := d.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: "login:b", Limit: 3, Period: time.Hour}); err != nil || !r.Allowed || r.Remaining != 2 {
		t.Fatalf("other key = %+v, %v", r, err)
	}
	keys, err := d.rdb.Keys(ctx, d.key("rate:login:a:*")).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("window keys = %v, %v; want one", keys, err)
	}
	ttl, err := d.rdb.TTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour+time.Second {
		t.Fatalf("window TTL = %v, %v; want within the hour", ttl, err)
	}
	// Nothing went to SQL.
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM queue_rate_limits").Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("queue_rate_limits rows = %d, %v; want 0", rows, err)
	}
	// A one-second window: the next second allows again, and the key
	// goes away on its own.
	p := &driver.RateLimitHitParams{Key: "short", Limit: 1, Period: time.Second}
	if r, _ := d.RateLimitHit(ctx, p); !r.Allowed {
		t.Fatal("first hit refused")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := d.RateLimitHit(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a one-second window never ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		n, err := d.rdb.Keys(ctx, d.key("rate:short:*")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(n) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("window keys %v never expired", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
