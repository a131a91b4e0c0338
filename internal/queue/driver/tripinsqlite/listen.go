package tripinsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/queue/driver"
)

// DefaultListenInterval is how often a listening driver asks SQLite
// whether anything was committed.
const DefaultListenInterval = 5 * time.Millisecond

// Listening returns d with driver.Listener: workers of other processes on
// the same database file (a `queue work` beside `serve`, say) learn of a
// job inserted here within a few milliseconds instead of at their next
// poll. SQLite has no notifications, but `PRAGMA data_version` changes
// whenever another connection commits, and reading it costs no I/O (it is
// in the WAL index in shared memory), so the listener reads it every
// interval (DefaultListenInterval when zero) and, when it changed, looks
// at the jobs inserted since its last look. Not for ":memory:" databases,
// which other connections cannot see.
func (d *Driver) Listening(interval time.Duration) driver.Driver {
	if interval <= 0 {
		interval = DefaultListenInterval
	}
	return &listeningDriver{Driver: d, interval: interval}
}

type listeningDriver struct {
	*Driver
	interval time.Duration
}

var _ driver.Listener = (*listeningDriver)(nil)

// Listen calls fn with the queue of each job available now that was
// inserted since the previous look, once per queue and look, until ctx
// ends. It holds one connection of the read pool while it runs.
func (d *listeningDriver) Listen(ctx context.Context, fn func(queue string)) error {
	conn, err := d.DB.Read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("tripinsqlite: listen: %w", err)
	}
	defer conn.Close()
	version, err := dataVersion(ctx, conn)
	if err != nil {
		return err
	}
	last, err := maxJobID(ctx, conn)
	if err != nil {
		return err
	}
	tick := time.NewTicker(d.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v, err := dataVersion(ctx, conn)
		if err != nil {
			return err
		}
		if v == version {
			continue
		}
		version = v
		top, err := maxJobID(ctx, conn)
		if err != nil {
			return err
		}
		if top <= last {
			continue // a commit without new jobs (a claim, a booking update)
		}
		queues, err := newJobQueues(ctx, conn, last, top)
		if err != nil {
			return err
		}
		last = top
		for _, q := range queues {
			fn(q)
		}
	}
}

func dataVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("tripinsqlite: listen: data_version: %w", err)
	}
	return v, nil
}

// maxJobID is the newest job's id; ids only grow (AUTOINCREMENT), so the
// jobs above the last one seen are exactly the new ones.
func maxJobID(ctx context.Context, conn *sql.Conn) (int64, error) {
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM jobs").Scan(&id); err != nil {
		return 0, fmt.Errorf("tripinsqlite: listen: newest job: %w", err)
	}
	return id, nil
}

// newJobQueues returns the queues of the jobs in (after, upTo] that are
// available now and not taken yet, read through the primary key.
func newJobQueues(ctx context.Context, conn *sql.Conn, after, upTo int64) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT DISTINCT queue FROM jobs
WHERE id > ? AND id <= ? AND reserved_at IS NULL AND available_at <= `+now, after, upTo)
	if err != nil {
		return nil, fmt.Errorf("tripinsqlite: listen: new jobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return nil, fmt.Errorf("tripinsqlite: listen: new jobs: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
