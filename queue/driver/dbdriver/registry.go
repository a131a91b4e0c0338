package dbdriver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// The process registry (queue_processes) and the job browser are written
// once for the three dialects, as Admin is: only the upsert differs.
var (
	_ driver.Registry   = (*Base)(nil)
	_ driver.JobBrowser = (*Base)(nil)
)

// NewRegistry returns the process registry on db without the claim and
// insert statements of a full driver: what the scheduler and `queue stats`
// need. The result also implements driver.JobBrowser and driver.Admin.
func NewRegistry(db *sqldb.DB) driver.Registry {
	d := &Dialect{Store: db.Dialect, UnixNow: sqldb.UnixNowSQL(db.Dialect)}
	return NewBase(db, d, "database")
}

// DefaultJobListLimit is the page size of JobList when Limit is zero.
const DefaultJobListLimit = 50

const processColumns = "id, kind, host, pid, queues, concurrency, running, jobs, started_at, last_heartbeat"

// ProcessHeartbeat upserts p's row with last_heartbeat set to the database
// clock. started_at is the database clock of the first heartbeat and is
// kept by the later ones, so that it says when the process registered.
func (b *Base) ProcessHeartbeat(ctx context.Context, p *driver.Process) error {
	if p == nil || p.ID == "" {
		return errors.New("queue: process heartbeat: empty process id")
	}
	now := b.nowExpr()
	query := "INSERT INTO queue_processes (" + processColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, " + now + ", " + now + ")"
	if b.d() == sqldb.MySQL {
		// MariaDB has no row alias for the inserted values: VALUES() it is.
		query += ` ON DUPLICATE KEY UPDATE kind = VALUES(kind), host = VALUES(host), pid = VALUES(pid),
  queues = VALUES(queues), concurrency = VALUES(concurrency), running = VALUES(running), jobs = VALUES(jobs),
  last_heartbeat = VALUES(last_heartbeat)`
	} else {
		query += ` ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, host = excluded.host, pid = excluded.pid,
  queues = excluded.queues, concurrency = excluded.concurrency, running = excluded.running, jobs = excluded.jobs,
  last_heartbeat = excluded.last_heartbeat`
	}
	_, err := b.exec(ctx, query, p.ID, p.Kind, p.Host, p.PID, joinList(p.Queues), p.Concurrency, p.Running, joinList(p.Jobs))
	if err != nil {
		return fmt.Errorf("queue: process heartbeat %s: %w", p.ID, err)
	}
	return nil
}

// ProcessList returns the registered processes, the most recent heartbeat
// first. Age is measured against the database clock in the same
// statement, so it never mixes clocks.
func (b *Base) ProcessList(ctx context.Context, p *driver.ProcessListParams) ([]*driver.Process, error) {
	if p == nil {
		p = &driver.ProcessListParams{}
	}
	now := b.nowExpr()
	query := "SELECT " + processColumns + ", " + now + " FROM queue_processes"
	var (
		conds []string
		args  []any
	)
	if p.Kind != "" {
		conds, args = append(conds, "kind = ?"), append(args, p.Kind)
	}
	if p.StaleAfter > 0 {
		conds, args = append(conds, "last_heartbeat >= "+now+" - ?"), append(args, Seconds(p.StaleAfter))
	}
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY last_heartbeat DESC, started_at, id"
	rows, err := b.reader().QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list processes: %w", err)
	}
	defer rows.Close()
	var out []*driver.Process
	for rows.Next() {
		var (
			pr                        driver.Process
			queues, jobs              string
			started, heartbeat, dbNow int64
		)
		if err := rows.Scan(&pr.ID, &pr.Kind, &pr.Host, &pr.PID, &queues, &pr.Concurrency, &pr.Running, &jobs,
			&started, &heartbeat, &dbNow); err != nil {
			return nil, fmt.Errorf("queue: list processes: %w", err)
		}
		pr.Queues, pr.Jobs = splitList(queues), splitList(jobs)
		pr.StartedAt, pr.LastHeartbeat = unixTime(started), unixTime(heartbeat)
		pr.Age = time.Duration(max(dbNow-heartbeat, 0)) * time.Second
		out = append(out, &pr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list processes: %w", err)
	}
	return out, nil
}

// ProcessRemove deletes a process's row; removing a row that is already
// gone (pruned while the process stalled) is not an error.
func (b *Base) ProcessRemove(ctx context.Context, id string) error {
	if _, err := b.exec(ctx, "DELETE FROM queue_processes WHERE id = ?", id); err != nil {
		return fmt.Errorf("queue: remove process %s: %w", id, err)
	}
	return nil
}

// ProcessPrune deletes the rows of processes whose last heartbeat is older
// than olderThan by the database clock: processes that died without a
// clean stop.
func (b *Base) ProcessPrune(ctx context.Context, olderThan time.Duration) (int, error) {
	n, err := b.exec(ctx, "DELETE FROM queue_processes WHERE last_heartbeat < "+b.nowExpr()+" - ?", Seconds(olderThan))
	if err != nil {
		return 0, fmt.Errorf("queue: prune processes: %w", err)
	}
	return n, nil
}

// JobList returns one state's jobs, oldest available first, by the
// database clock (read once, as QueueStats does). The conditions are those of QueueStats, so a listing
// agrees with the counts.
//
// Each queue is read through its claim index in (available_at, id) order,
// from p.After on, and the queues' pages are merged: a page costs the same
// however many jobs wait, in one queue or across all of them.
func (b *Base) JobList(ctx context.Context, p *driver.JobListParams) ([]*driver.JobRow, error) {
	if p == nil {
		return nil, errors.New("queue: list jobs: no state given")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultJobListLimit
	}
	offset := max(p.Offset, 0)
	// The first offset+limit jobs of each queue are enough for the merged
	// page.
	query, err := b.jobListSQL(p.State, p.After != nil, offset+limit)
	if err != nil {
		return nil, err
	}
	var after []any
	if p.State != driver.JobStateReserved {
		now, err := b.DB.Now(ctx)
		if err != nil {
			return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
		}
		after = append(after, now.Unix())
	}
	if p.After != nil {
		after = append(after, b.cursorArgs(p.After)...)
	}
	queues := []string{p.Queue}
	if p.Queue == "" {
		var err error
		if queues, err = b.jobQueues(ctx); err != nil {
			return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
		}
	}
	var out []*driver.JobRow
	for _, q := range queues {
		rows, err := b.reader().QueryContext(ctx, query, append([]any{q}, after...)...)
		if err != nil {
			return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
		}
		jobs, err := ScanJobs(rows)
		if err != nil {
			return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
		}
		out = append(out, jobs...)
	}
	if len(queues) > 1 {
		slices.SortFunc(out, func(a, b *driver.JobRow) int {
			if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
	}
	if offset >= len(out) {
		return nil, nil
	}
	return out[offset:min(offset+limit, len(out))], nil
}

// jobListSQL reads up to n jobs of one queue in one state, in
// (available_at, id) order, after a cursor when after is set. Its
// parameters: queue, the time (Unix seconds) for the pending and delayed
// states, then those of cursorArgs. The time is a
// parameter, read once before, not the database's clock function:
// PostgreSQL's clock_timestamp() is volatile, so a condition on it cannot
// bound an index range, and the list of a queue with no pending job but a
// million delayed ones walked the million.
func (b *Base) jobListSQL(state string, after bool, n int) (string, error) {
	var cond string
	switch state {
	case driver.JobStatePending:
		cond = "reserved_at IS NULL AND available_at <= ?"
	case driver.JobStateDelayed:
		cond = "reserved_at IS NULL AND available_at > ?"
	case driver.JobStateReserved:
		cond = "reserved_at IS NOT NULL"
	default:
		return "", fmt.Errorf("queue: list jobs: unknown state %q (want %s, %s or %s)",
			state, driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved)
	}
	if after {
		// The range starts at the cursor: a row comparison, which SQLite
		// and PostgreSQL read as the start of an index range; MariaDB
		// does not, so there the start is the cursor's second and the
		// ties in it are filtered.
		if b.d() == sqldb.MySQL {
			cond += " AND available_at >= ? AND (available_at > ? OR id > ?)"
		} else {
			cond += " AND (available_at, id) > (?, ?)"
		}
	}
	return b.q("SELECT " + JobColumns + " FROM jobs WHERE queue = ? AND " + cond +
		" ORDER BY available_at, id LIMIT " + strconv.Itoa(n)), nil
}

// cursorArgs are the parameters of jobListSQL's cursor condition.
func (b *Base) cursorArgs(c *driver.JobListCursor) []any {
	sec := c.AvailableAt.Unix()
	if b.d() == sqldb.MySQL {
		return []any{sec, sec, c.ID}
	}
	return []any{sec, c.ID}
}

// joinList stores a list of names in one text column.
func joinList(s []string) string { return strings.Join(s, ",") }

// splitList reads a column written by joinList; an empty column is an
// empty list, never nil, so that JSON shows [] rather than null.
func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
