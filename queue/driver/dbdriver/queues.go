package dbdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Base answers for whole queues (driver.Queues) from jobs, failed_jobs
// and queue_pauses.
var _ driver.Queues = (*Base)(nil)

// QueueClear deletes every job of queue.
func (b *Base) QueueClear(ctx context.Context, queue string) (int, error) {
	n, err := b.exec(ctx, "DELETE FROM jobs WHERE queue = ?", queue)
	if err != nil {
		return 0, fmt.Errorf("queue: clear %s: %w", queue, err)
	}
	return n, nil
}

// QueueStats counts each queue's jobs by state at one instant of the
// database clock.
func (b *Base) QueueStats(ctx context.Context, p *driver.QueueStatsParams) ([]*driver.QueueStat, error) {
	now, err := b.DB.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	sec := now.Unix()
	stats := map[string]*driver.QueueStat{}
	get := func(q string) *driver.QueueStat {
		s, ok := stats[q]
		if !ok {
			s = &driver.QueueStat{Queue: q}
			stats[q] = s
		}
		return s
	}
	if p != nil {
		for _, q := range p.Queues {
			get(q)
		}
	}
	rows, err := b.reader().QueryContext(ctx, b.q(`SELECT queue,
  COUNT(CASE WHEN reserved_at IS NULL AND available_at <= ? THEN 1 END),
  COUNT(CASE WHEN reserved_at IS NULL AND available_at > ? THEN 1 END),
  COUNT(CASE WHEN reserved_at IS NOT NULL THEN 1 END),
  MIN(CASE WHEN reserved_at IS NULL AND available_at <= ? THEN available_at END)
FROM jobs GROUP BY queue`), sec, sec, sec)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	for rows.Next() {
		var q string
		var pending, delayed, reserved int
		var oldest sql.NullInt64
		if err := rows.Scan(&q, &pending, &delayed, &reserved, &oldest); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		s := get(q)
		s.Pending, s.Delayed, s.Reserved = pending, delayed, reserved
		if oldest.Valid && oldest.Int64 <= sec {
			s.OldestWait = time.Duration(sec-oldest.Int64) * time.Second
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	rows, err = b.reader().QueryContext(ctx, "SELECT queue, COUNT(*) FROM failed_jobs GROUP BY queue")
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	for rows.Next() {
		var q string
		var n int
		if err := rows.Scan(&q, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		get(q).Failed = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	paused, err := b.QueuePausedList(ctx)
	if err != nil {
		return nil, err
	}
	for _, ps := range paused {
		get(ps.Queue).Paused = true
	}
	out := make([]*driver.QueueStat, 0, len(stats))
	for _, s := range stats {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *driver.QueueStat) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}

// QueuePause records a pause of queue.
func (b *Base) QueuePause(ctx context.Context, queue, by string) error {
	if queue == "" {
		return errors.New("queue: pause: empty queue name")
	}
	query := "INSERT INTO queue_pauses (queue, paused_at, paused_by) VALUES (?, " + b.nowExpr() + ", ?)"
	if b.d() == sqldb.MySQL {
		query += " ON DUPLICATE KEY UPDATE queue = queue"
	} else {
		query += " ON CONFLICT (queue) DO NOTHING"
	}
	if _, err := b.exec(ctx, query, queue, by); err != nil {
		return fmt.Errorf("queue: pause %s: %w", queue, err)
	}
	return nil
}

// QueueResume lifts the pause of queue.
func (b *Base) QueueResume(ctx context.Context, queue string) error {
	if _, err := b.exec(ctx, "DELETE FROM queue_pauses WHERE queue = ?", queue); err != nil {
		return fmt.Errorf("queue: resume %s: %w", queue, err)
	}
	return nil
}

// QueuePausedList returns the paused queues by name.
func (b *Base) QueuePausedList(ctx context.Context) ([]*driver.QueuePause, error) {
	rows, err := b.reader().QueryContext(ctx, "SELECT queue, paused_at, paused_by FROM queue_pauses ORDER BY queue")
	if err != nil {
		return nil, fmt.Errorf("queue: list paused queues: %w", err)
	}
	defer rows.Close()
	var out []*driver.QueuePause
	for rows.Next() {
		var p driver.QueuePause
		var at int64
		if err := rows.Scan(&p.Queue, &at, &p.PausedBy); err != nil {
			return nil, fmt.Errorf("queue: list paused queues: %w", err)
		}
		p.PausedAt = unixTime(at)
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list paused queues: %w", err)
	}
	return out, nil
}
