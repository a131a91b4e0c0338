package dbdriver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestRateLimitPrune: a hit gives its row the end of its window; the prune
// deletes the rows of windows that ended more than OlderThan ago, keeps the
// others (and rows with no end), and a key whose row went starts afresh.
func TestRateLimitPrune(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		hit := func(key string, period time.Duration) *driver.RateLimitResult {
			t.Helper()
			r, err := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: key, Limit: 2, Period: period})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		for _, k := range []string{"old", "recent", "current"} {
			hit(k, time.Minute)
			hit(k, time.Minute)
		}
		now, err := db.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var end int64
		if err := db.QueryRowContext(ctx, "SELECT expires_at FROM queue_rate_limits WHERE name = 'current'").Scan(&end); err != nil {
			t.Fatal(err)
		}
		if end <= now.Unix()-1 || end > now.Unix()+61 {
			t.Fatalf("expires_at = %d, want the end of the current minute after %d", end, now.Unix())
		}
		// Windows that ended 2 hours and 10 minutes ago, and a legacy row.
		for key, shift := range map[string]int{"old": 7200 + 60, "recent": 600 + 60} {
			if _, err := db.ExecContext(ctx, db.Rebind("UPDATE queue_rate_limits SET window_start = window_start - ?, expires_at = expires_at - ? WHERE name = ?"), shift, shift, key); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO queue_rate_limits (name, window_start, hits) VALUES ('legacy', 0, 5)"); err != nil {
			t.Fatal(err)
		}
		pr := adm.(driver.RateLimitPruner)
		n, err := pr.RateLimitPrune(ctx, &driver.PruneChunksParams{OlderThan: time.Hour, ChunkSize: 1})
		if err != nil || n != 1 {
			t.Fatalf("prune = %d, %v; want 1 row", n, err)
		}
		names := func() []string {
			rows, err := db.QueryContext(ctx, "SELECT name FROM queue_rate_limits ORDER BY name")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var s string
				rows.Scan(&s)
				out = append(out, s)
			}
			return out
		}
		if got := fmt.Sprint(names()); got != "[current legacy recent]" {
			t.Fatalf("rows left = %s", got)
		}
		// The window still running is not pruned even with no grace, and
		// still denies.
		if n, err := pr.RateLimitPrune(ctx, &driver.PruneChunksParams{ChunkSize: 1}); err != nil || n != 1 {
			t.Fatalf("prune with no grace = %d, %v; want 1 (recent)", n, err)
		}
		if got := fmt.Sprint(names()); got != "[current legacy]" {
			t.Fatalf("rows left = %s", got)
		}
		if r := hit("current", time.Minute); r.Allowed {
			// The minute may have just turned; then a new window allows it.
			now2, _ := db.Now(ctx)
			if now2.Unix()/60 == now.Unix()/60 {
				t.Fatal("the current window was reset")
			}
		}
		// A pruned key starts a new window.
		if r := hit("old", time.Minute); !r.Allowed || r.Remaining != 1 {
			t.Fatalf("pruned key = %+v", r)
		}
	})
}
