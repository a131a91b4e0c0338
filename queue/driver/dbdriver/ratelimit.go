package dbdriver

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Base is the shared limiter (driver.RateLimiter) on queue_rate_limits.
var _ driver.RateLimiter = (*Base)(nil)

// RateLimitHit counts a hit in the current fixed window of Period, by the
// database clock. The row's expires_at is the end of its window, which is
// what RateLimitPrune goes by.
//
// The upsert takes the row's lock on every dialect (on PostgreSQL a
// conflict that only did nothing would not), so that between it and the
// SELECT … FOR UPDATE a prune cannot delete the row; a row gone anyway is
// written again.
func (b *Base) RateLimitHit(ctx context.Context, p *driver.RateLimitHitParams) (*driver.RateLimitResult, error) {
	period := max(Seconds(p.Period), 1)
	if p.Limit <= 0 {
		return nil, fmt.Errorf("queue: rate limit %s: limit %d: want > 0", p.Key, p.Limit)
	}
	ins := "INSERT INTO queue_rate_limits (name, window_start, hits) VALUES (?, 0, 0)"
	if b.d() == sqldb.MySQL {
		ins += " ON DUPLICATE KEY UPDATE name = name"
	} else {
		ins += " ON CONFLICT (name) DO UPDATE SET hits = queue_rate_limits.hits"
	}
	var out driver.RateLimitResult
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		var now int64
		if err := tx.QueryRowContext(ctx, "SELECT "+b.nowExpr()).Scan(&now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, b.q(ins), p.Key); err != nil {
			return err
		}
		var start int64
		var hits int
		if err := tx.QueryRowContext(ctx, b.q("SELECT window_start, hits FROM queue_rate_limits WHERE name = ?"+forUpdate(b.d())), p.Key).Scan(&start, &hits); err != nil {
			return err
		}
		window := now - now%period
		if start != window {
			start, hits = window, 0
		}
		out = driver.RateLimitResult{}
		if hits < p.Limit {
			hits++
			out.Allowed, out.Remaining = true, p.Limit-hits
		} else {
			out.RetryAfter = time.Duration(start+period-now) * time.Second
		}
		_, err := tx.ExecContext(ctx, b.q("UPDATE queue_rate_limits SET window_start = ?, hits = ?, expires_at = ? WHERE name = ?"),
			start, hits, start+period, p.Key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: rate limit %s: %w", p.Key, err)
	}
	return &out, nil
}

// RateLimitPrune deletes the limiter rows whose window ended more than
// OlderThan before the database's now, at most ChunkSize per statement. Such a row counts
// nothing any more: the next hit on its key would start a new window
// anyway. Each DELETE checks the end again, so a row that a hit moved into
// a new window after it was read is kept. Rows without an end (written
// before expires_at existed) are kept until their next hit gives them one.
func (b *Base) RateLimitPrune(ctx context.Context, p *driver.PruneChunksParams) (int, error) {
	chunk := pruneChunk(p.ChunkSize)
	total := 0
	for {
		var now int64
		if err := b.reader().QueryRowContext(ctx, "SELECT "+b.nowExpr()).Scan(&now); err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		now -= max(Seconds(p.OlderThan), 0)
		rows, err := b.reader().QueryContext(ctx, b.q("SELECT name FROM queue_rate_limits WHERE expires_at < ? ORDER BY expires_at LIMIT ?"), now, chunk)
		if err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		var names []any
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return total, fmt.Errorf("queue: prune rate limits: %w", err)
			}
			names = append(names, name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		if len(names) == 0 {
			return total, nil
		}
		n, err := b.exec(ctx, "DELETE FROM queue_rate_limits WHERE expires_at < ? AND name IN (?"+strings.Repeat(", ?", len(names)-1)+")",
			append([]any{now}, names...)...)
		total += n
		if err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		if len(names) < chunk || n == 0 {
			return total, nil
		}
	}
}
