package dbdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
//
// Its cost does not grow with the backlog: the queues are found by
// skipping through the claim's indexes one queue name at a time (never
// reading the jobs between), and each state of each queue is counted
// through an index range that stops at the count limit (p.Limit), so a
// queue of millions of jobs costs a few thousand index entries, not a scan
// of the table. A count that reaches the limit reads "more than the
// limit" (driver.QueueStat.Capped).
func (b *Base) QueueStats(ctx context.Context, p *driver.QueueStatsParams) ([]*driver.QueueStat, error) {
	now, err := b.DB.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	sec := now.Unix()
	limit := p.Limit()
	stats := map[string]*driver.QueueStat{}
	get := func(q string) *driver.QueueStat {
		s, ok := stats[q]
		if !ok {
			s = &driver.QueueStat{Queue: q, CountLimit: limit}
			stats[q] = s
		}
		return s
	}
	if p != nil {
		for _, q := range p.Queues {
			get(q)
		}
	}
	names, err := b.jobQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	for _, q := range names {
		get(q)
	}
	countQuery := b.queueCountsSQL(limit)
	for _, s := range stats {
		var oldest sql.NullInt64
		err := b.reader().QueryRowContext(ctx, countQuery, s.Queue, sec, s.Queue, sec, s.Queue, s.Queue, sec).
			Scan(&s.Pending, &s.Delayed, &s.Reserved, &oldest)
		if err != nil {
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		if oldest.Valid && oldest.Int64 <= sec {
			s.OldestWait = time.Duration(sec-oldest.Int64) * time.Second
		}
	}
	var rows *sql.Rows
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

// queueCountsSQL counts one queue's pending, delayed and reserved jobs
// (each through an index range of at most limit+1 entries; no bound when
// limit is 0) and reads the available_at of its oldest pending job. Its
// parameters: queue, now, queue, now, queue, queue, now.
func (b *Base) queueCountsSQL(limit int) string {
	// The ORDER BY follows the index, so that no planner prefers a
	// scan of the table that stops at the limit: when the rows are few
	// (or none), it reads the whole table to find that out.
	waiting, reserved := "", ""
	if limit > 0 {
		n := strconv.Itoa(limit + 1)
		waiting, reserved = " ORDER BY available_at LIMIT "+n, " ORDER BY lease_expires_at LIMIT "+n
	}
	return b.q(`SELECT
  (SELECT COUNT(*) FROM (SELECT 1 AS x FROM jobs WHERE queue = ? AND reserved_at IS NULL AND available_at <= ?` + waiting + `) p),
  (SELECT COUNT(*) FROM (SELECT 1 AS x FROM jobs WHERE queue = ? AND reserved_at IS NULL AND available_at > ?` + waiting + `) d),
  (SELECT COUNT(*) FROM (SELECT 1 AS x FROM jobs WHERE queue = ? AND reserved_at IS NOT NULL` + reserved + `) r),
  (SELECT MIN(available_at) FROM jobs WHERE queue = ? AND reserved_at IS NULL AND available_at <= ?)`)
}

// jobQueues returns the names of the queues that hold jobs, in the order
// of their names. MySQL and MariaDB read them with a loose index scan of
// the claim's index (queue, reserved_at, available_at). SQLite and
// PostgreSQL, whose claim indexes are partial (waiting jobs in one,
// reserved ones in the other), are walked one name at a time: each step
// asks each index for the first name after the last one, which is one
// index probe however many jobs the queue holds.
func (b *Base) jobQueues(ctx context.Context) ([]string, error) {
	rows, err := b.reader().QueryContext(ctx, b.jobQueuesSQL())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// jobQueuesSQL is jobQueues's query.
func (b *Base) jobQueuesSQL() string {
	if b.d() == sqldb.MySQL {
		return "SELECT DISTINCT queue FROM jobs"
	}
	return `WITH RECURSIVE w(name) AS (
  SELECT MIN(queue) FROM jobs WHERE reserved_at IS NULL
  UNION ALL
  SELECT (SELECT MIN(queue) FROM jobs WHERE reserved_at IS NULL AND queue > w.name) FROM w WHERE w.name IS NOT NULL
), r(name) AS (
  SELECT MIN(queue) FROM jobs WHERE reserved_at IS NOT NULL
  UNION ALL
  SELECT (SELECT MIN(queue) FROM jobs WHERE reserved_at IS NOT NULL AND queue > r.name) FROM r WHERE r.name IS NOT NULL
)
SELECT name FROM w WHERE name IS NOT NULL
UNION
SELECT name FROM r WHERE name IS NOT NULL`
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
