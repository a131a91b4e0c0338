// Package tripinsqlite is the queue driver for SQLite. The store gives it
// one writer connection that opens transactions with BEGIN IMMEDIATE, so
// claims never race within a process and wait on the file lock across
// processes; a claim is therefore one UPDATE … RETURNING with no need for
// SKIP LOCKED.
package tripinsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Options configure the driver.
type Options struct {
	// Name is the connection name; "database" when empty.
	Name string
}

// Driver is the SQLite queue driver.
type Driver struct {
	*dbdriver.Base

	mu     sync.Mutex
	claims map[int]*sql.Stmt // by number of queues
}

// The driver offers the optional capabilities its embedded Base implements.
var (
	_ driver.Driver     = (*Driver)(nil)
	_ driver.Admin      = (*Driver)(nil)
	_ driver.Registry   = (*Driver)(nil)
	_ driver.JobBrowser = (*Driver)(nil)
)

// now is the database clock in whole Unix seconds.
const now = "CAST(unixepoch() AS INTEGER)"

var dialect = &dbdriver.Dialect{
	Store:     sqldb.SQLite,
	UnixNow:   now,
	Timestamp: func(t time.Time) any { return t.UTC().Format(time.DateTime) },
	IDList: func(ids []int64) (string, []any) {
		return "id IN (SELECT value FROM json_each(?))", []any{dbdriver.JSONIDs(ids)}
	},
	// The first condition finds the rows by rowid; the second, an
	// uncorrelated subquery SQLite builds once, checks their claims.
	LeaseList: func(leases []driver.JobLease) (string, []any) {
		j := dbdriver.JSONLeases(leases)
		return "id IN (SELECT value ->> 0 FROM json_each(?)) AND (id, claim_seq) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))", []any{j, j}
	},
	Returning: true,
	FailInsert: `INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at, error_log)
SELECT uuid, ?1, queue, payload, ?2, COALESCE(?3, CURRENT_TIMESTAMP), ?4 FROM jobs WHERE id = ?5
ON CONFLICT (uuid) DO UPDATE SET connection = excluded.connection, queue = excluded.queue,
  payload = excluded.payload, exception = excluded.exception, failed_at = excluded.failed_at,
  error_log = excluded.error_log`,
	CachePut: `INSERT INTO cache (key, value, expiration) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration`,
}

// New returns a driver on db, which must be a SQLite store.
func New(db *sqldb.DB, opts Options) *Driver {
	return &Driver{Base: dbdriver.NewBase(db, dialect, opts.Name), claims: map[int]*sql.Stmt{}}
}

// insertColumns are bound per row; SQLite allows 32766 variables in a
// statement, which bounds the rows per INSERT.
const (
	insertColumns = 9
	maxInsertRows = 32766 / insertColumns
)

// JobInsertMany inserts jobs with one multi-row INSERT (several only past
// SQLite's limit of variables per statement).
func (d *Driver) JobInsertMany(ctx context.Context, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	return dbdriver.InsertMany(ctx, d.DB, params, d.insert)
}

// JobInsertManyTx inserts jobs within tx.
func (d *Driver) JobInsertManyTx(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	return dbdriver.InsertManyTx(ctx, tx, params, d.insert)
}

func (d *Driver) insert(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	rows := dbdriver.InsertRows(params)
	inserted := make(map[string]int64, len(rows))
	for start := 0; start < len(rows); start += maxInsertRows {
		chunk := rows[start:min(start+maxInsertRows, len(rows))]
		if err := d.insertChunk(ctx, tx, chunk, inserted); err != nil {
			return nil, err
		}
	}
	var existing map[string]int64
	if keys := dbdriver.SkippedKeys(rows, inserted); len(keys) > 0 {
		var err error
		if existing, err = holders(ctx, tx, keys); err != nil {
			return nil, err
		}
	}
	return dbdriver.InsertResults(rows, inserted, existing), nil
}

// preparedInsertRows is the largest insert kept prepared: the jobs a
// booking or a mail inserts inside its transaction (one to a few rows)
// are the hot path, and each distinct row count is its own statement.
const preparedInsertRows = 8

func (d *Driver) insertChunk(ctx context.Context, tx *sql.Tx, chunk []dbdriver.InsertRow, inserted map[string]int64) error {
	var q strings.Builder
	q.Grow(200 + len(chunk)*80)
	q.WriteString("INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts, unique_key, batch_id) VALUES ")
	args := make([]any, 0, len(chunk)*insertColumns)
	for i, r := range chunk {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?, ?, 0, COALESCE(?, " + now + " + ?), " + now + ", ?, ?, ?, ?, ?)")
		args = append(args, r.Queue, r.Payload, r.AvailableAt, r.Delay, r.UUID, r.Kind, r.MaxAttempts, r.UniqueKey, r.BatchID)
	}
	q.WriteString(" ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id, uuid")
	var res *sql.Rows
	var err error
	if len(chunk) <= preparedInsertRows {
		res, err = d.DB.TxQuery(ctx, tx, q.String(), args...)
	} else {
		res, err = tx.QueryContext(ctx, q.String(), args...)
	}
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		var id int64
		var u string
		if err := res.Scan(&id, &u); err != nil {
			return err
		}
		inserted[u] = id
	}
	return res.Err()
}

// holders maps unique keys to the jobs holding them.
func holders(ctx context.Context, tx *sql.Tx, keys []string) (map[string]int64, error) {
	out := make(map[string]int64, len(keys))
	for start := 0; start < len(keys); start += 30000 {
		chunk := keys[start:min(start+30000, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		q := "SELECT id, unique_key FROM jobs WHERE unique_key IN (?" + strings.Repeat(", ?", len(chunk)-1) + ")"
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var k string
			if err := rows.Scan(&id, &k); err != nil {
				rows.Close()
				return nil, err
			}
			out[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// claimSQL builds the claim for n queues. Parameters: ?1 now (NULL for the
// database clock), ?2 worker, ?3 lease seconds, ?4 max, ?5… the queues.
// Each queue contributes its jobs whose lease expired (served by
// jobs_queue_lease, sorted first: they have waited longest and must not
// starve behind a backlog) and its pending jobs in the order they became
// available, then by id (served by jobs_queue_pending); the outer ORDER BY
// keeps strict queue priority.
//
// A pending job's attempts go up by one. An expired reservation that was
// never renewed (heartbeat_at NULL: its worker never marked it started,
// and it is not itself such a takeover) keeps its attempts and is marked
// with heartbeat_at 0: its claim may have lost its reply, so it may never
// have run. Anything else expired is charged. SQLite evaluates every SET
// expression on the old row.
func claimSQL(n int) string {
	const nowArg = "COALESCE(?1, " + now + ")"
	var b strings.Builder
	b.WriteString("UPDATE jobs SET attempts = attempts + " + dbdriver.ClaimCharge + ",\n  heartbeat_at = " + dbdriver.ClaimMark +
		",\n  claim_seq = claim_seq + 1, reserved_at = " + nowArg + ", reserved_by = ?2, lease_expires_at = " + nowArg + " + ?3\nWHERE id IN (SELECT id FROM (")
	for i := range n {
		if i > 0 {
			b.WriteString("\n  UNION ALL ")
		}
		p := strconv.Itoa(i)
		q := "?" + strconv.Itoa(5+i)
		b.WriteString("SELECT " + p + " AS p, available_at AS a, id FROM (SELECT available_at, id FROM jobs WHERE queue = " + q +
			" AND reserved_at IS NULL AND available_at <= " + nowArg + " ORDER BY available_at, id LIMIT ?4)")
		b.WriteString("\n  UNION ALL SELECT " + p + ", 0, id FROM (SELECT id FROM jobs WHERE queue = " + q +
			" AND reserved_at IS NOT NULL AND lease_expires_at < " + nowArg + " ORDER BY lease_expires_at LIMIT ?4)")
	}
	b.WriteString(")\n ORDER BY p, a, id LIMIT ?4)\nRETURNING " + dbdriver.JobColumns)
	return b.String()
}

func (d *Driver) claimStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.claims[n]; ok {
		return s, nil
	}
	s, err := d.DB.PrepareContext(ctx, claimSQL(n))
	if err != nil {
		return nil, err
	}
	d.claims[n] = s
	return s, nil
}

// JobClaim reserves up to Max available jobs with one UPDATE … RETURNING.
func (d *Driver) JobClaim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, error) {
	queues := dbdriver.Dedupe(p.Queues)
	if p.Max <= 0 || len(queues) == 0 {
		return nil, nil
	}
	stmt, err := d.claimStmt(ctx, len(queues))
	if err != nil {
		return nil, fmt.Errorf("queue: claim jobs: %w", err)
	}
	args := []any{dbdriver.UnixOrNil(p.Now), p.WorkerID, dbdriver.LeaseSeconds(p), p.Max}
	for _, q := range queues {
		args = append(args, q)
	}
	var jobs []*driver.JobRow
	err = dbdriver.Retry(ctx, func() error {
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		jobs, err = dbdriver.ScanJobs(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: claim jobs: %w", err)
	}
	dbdriver.SortClaimed(jobs, queues)
	return jobs, nil
}
