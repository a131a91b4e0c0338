package dbdriver

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PollListener gives a database without notifications (SQLite, MariaDB)
// driver.Listener's behaviour: it looks every Interval for jobs inserted
// since its last look, through the primary key (ids only grow), and calls
// fn with the queues of those available now. A job whose id was assigned
// before the last look but committed after it (MariaDB's concurrent
// inserts) is not reported; the workers' own polling finds it.
type PollListener struct {
	// Pool gives the connection the listener holds while it runs.
	Pool *sql.DB
	// Interval between looks.
	Interval time.Duration
	// UnixNow is the dialect's database clock in Unix seconds.
	UnixNow string
	// Version, when set, is read first on every look, and the jobs table
	// only when it changed since the last look: a number that changes
	// whenever something is committed (SQLite's PRAGMA data_version, which
	// costs no I/O).
	Version func(ctx context.Context, conn *sql.Conn) (int64, error)
}

// Listen runs until ctx ends (and then returns nil) or a query fails.
func (l *PollListener) Listen(ctx context.Context, fn func(queue string)) error {
	err := l.listen(ctx, fn)
	if ctx.Err() != nil {
		// Whatever failed, failed because the listener was stopped.
		return nil
	}
	return err
}

func (l *PollListener) listen(ctx context.Context, fn func(queue string)) error {
	conn, err := l.Pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("queue: listen: %w", err)
	}
	defer conn.Close()
	var version int64
	if l.Version != nil {
		if version, err = l.Version(ctx, conn); err != nil {
			return err
		}
	}
	last, err := maxJobID(ctx, conn)
	if err != nil {
		return err
	}
	tick := time.NewTicker(l.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if l.Version != nil {
			v, err := l.Version(ctx, conn)
			if err != nil {
				return err
			}
			if v == version {
				continue
			}
			version = v
		}
		top, err := maxJobID(ctx, conn)
		if err != nil {
			return err
		}
		if top <= last {
			continue // a commit without new jobs (a claim, a booking update)
		}
		queues, err := l.newJobQueues(ctx, conn, last, top)
		if err != nil {
			return err
		}
		last = top
		for _, q := range queues {
			fn(q)
		}
	}
}

// maxJobID is the newest job's id.
func maxJobID(ctx context.Context, conn *sql.Conn) (int64, error) {
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM jobs").Scan(&id); err != nil {
		return 0, fmt.Errorf("queue: listen: newest job: %w", err)
	}
	return id, nil
}

// newJobQueues returns the queues of the jobs in (after, upTo] that are
// available now and not taken yet.
func (l *PollListener) newJobQueues(ctx context.Context, conn *sql.Conn, after, upTo int64) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT DISTINCT queue FROM jobs
WHERE id > ? AND id <= ? AND reserved_at IS NULL AND available_at <= `+l.UnixNow, after, upTo)
	if err != nil {
		return nil, fmt.Errorf("queue: listen: new jobs: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return nil, fmt.Errorf("queue: listen: new jobs: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
