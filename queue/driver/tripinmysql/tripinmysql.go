// Package tripinmysql is the queue driver for MariaDB (10.6 and later) and
// MySQL (8.0.1 and later), the first versions with SELECT … FOR UPDATE
// SKIP LOCKED. MariaDB has no UPDATE … RETURNING, so a claim is a short
// transaction: one SELECT … FOR UPDATE SKIP LOCKED per queue until the
// claim is full (the same select also reads the rows and the database
// clock), one UPDATE of the ids, and the commit, sent in two round trips.
package tripinmysql

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
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

// Driver is the MariaDB/MySQL queue driver.
type Driver struct {
	*dbdriver.Base
	// returning is true on MariaDB, whose INSERT … RETURNING gives the ids
	// of a multi-row insert; MySQL reads them back by uuid instead.
	returning bool
	// Version is the server's version string.
	Version string
	// lastRescue is when (Unix seconds, by the claim's clock) a claim last
	// looked for expired leases.
	lastRescue atomic.Int64
}

// The driver offers the optional capabilities its embedded Base implements.
var (
	_ driver.Driver     = (*Driver)(nil)
	_ driver.Admin      = (*Driver)(nil)
	_ driver.Registry   = (*Driver)(nil)
	_ driver.JobBrowser = (*Driver)(nil)
)

const now = "UNIX_TIMESTAMP()"

var dialect = &dbdriver.Dialect{
	Store:     sqldb.MySQL,
	UnixNow:   now,
	Timestamp: func(t time.Time) any { return t.UTC() },
	IDList: func(ids []int64) (string, []any) {
		return "id IN (" + dbdriver.LiteralIDs(ids) + ")", nil
	},
	// The id list finds the rows by primary key; the row constructor
	// checks their claims.
	LeaseList: func(leases []driver.JobLease) (string, []any) {
		var b strings.Builder
		b.WriteString("id IN (" + dbdriver.LiteralIDs(dbdriver.LeaseIDs(leases)) + ") AND (id, claim_seq) IN (")
		for i, l := range leases {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + strconv.FormatInt(l.ID, 10) + "," + strconv.FormatInt(l.Claim, 10) + ")")
		}
		b.WriteByte(')')
		return b.String(), nil
	},
	LockRow: " FOR UPDATE",
	FailInsert: `INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at, error_log)
SELECT uuid, ?, queue, payload, ?, COALESCE(?, CURRENT_TIMESTAMP), ? FROM jobs WHERE id = ?
ON DUPLICATE KEY UPDATE connection = VALUES(connection), queue = VALUES(queue),
  payload = VALUES(payload), exception = VALUES(exception), failed_at = VALUES(failed_at),
  error_log = VALUES(error_log)`,
	CachePut: "INSERT INTO cache (`key`, value, expiration) VALUES (?, ?, ?)\n" +
		"ON DUPLICATE KEY UPDATE value = VALUES(value), expiration = VALUES(expiration)",
}

// New returns a driver on db, which must be a MySQL-dialect store. It asks
// the server for its version and refuses servers without SKIP LOCKED.
func New(ctx context.Context, db *sqldb.DB, opts Options) (*Driver, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return nil, fmt.Errorf("queue: mysql server version: %w", err)
	}
	mariadb, err := CheckVersion(version)
	if err != nil {
		return nil, err
	}
	d := dialect
	if mariadb {
		// MariaDB's DELETE takes RETURNING, so a completion is one
		// statement that says which jobs it deleted.
		md := *dialect
		md.Returning = true
		d = &md
	}
	return &Driver{Base: dbdriver.NewBase(db, d, opts.Name), returning: mariadb, Version: version}, nil
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// CheckVersion reports whether a VERSION() string is MariaDB, and an error
// when the server is older than MariaDB 10.6 or MySQL 8.0.1.
func CheckVersion(version string) (mariadb bool, err error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return false, fmt.Errorf("queue: mysql: cannot read server version %q", version)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	v := major*1_000_000 + minor*1_000 + patch
	mariadb = strings.Contains(strings.ToLower(version), "mariadb")
	switch {
	case mariadb && v < 10_006_000:
		return true, fmt.Errorf("queue: MariaDB %s is too old: the database queue needs 10.6 or later (SELECT … FOR UPDATE SKIP LOCKED)", m[0])
	case !mariadb && v < 8_000_001:
		return false, fmt.Errorf("queue: MySQL %s is too old: the database queue needs 8.0.1 or later (SELECT … FOR UPDATE SKIP LOCKED)", m[0])
	}
	return mariadb, nil
}

// Rows per INSERT are bounded by the statement's size (the server's
// max_allowed_packet is 16 MiB by default; parameters are interpolated on
// the client).
const (
	maxInsertRows  = 5000
	maxInsertBytes = 4 << 20
)

// JobInsertMany inserts jobs with one multi-row INSERT (more only for
// batches past maxInsertRows or maxInsertBytes).
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
	existing := map[string]int64{}
	for start := 0; start < len(rows); {
		end, size := start, 0
		for end < len(rows) && end-start < maxInsertRows && (end == start || size+len(rows[end].Payload) < maxInsertBytes) {
			size += len(rows[end].Payload)
			end++
		}
		if err := d.insertChunk(ctx, tx, rows[start:end], inserted, existing); err != nil {
			return nil, err
		}
		start = end
	}
	return dbdriver.InsertResults(rows, inserted, existing), nil
}

// insertChunk runs one INSERT. A row whose unique_key is taken becomes a
// no-op update of the holder (ON DUPLICATE KEY UPDATE id = id), which,
// unlike INSERT IGNORE, turns no other error into a warning. On MariaDB
// RETURNING then reports the inserted rows and, for skipped ones, the
// holder, whose uuid is not the one asked for.
func (d *Driver) insertChunk(ctx context.Context, tx *sql.Tx, chunk []dbdriver.InsertRow, inserted, existing map[string]int64) error {
	var q strings.Builder
	q.Grow(200 + len(chunk)*70)
	q.WriteString("INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts, unique_key, batch_id) VALUES ")
	args := make([]any, 0, len(chunk)*9)
	for i, r := range chunk {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?, ?, 0, COALESCE(?, " + now + " + ?), " + now + ", ?, ?, ?, ?, ?)")
		args = append(args, r.Queue, r.Payload, r.AvailableAt, r.Delay, r.UUID, r.Kind, r.MaxAttempts, r.UniqueKey, r.BatchID)
	}
	q.WriteString(" ON DUPLICATE KEY UPDATE id = id")
	if d.returning {
		q.WriteString(" RETURNING id, uuid, unique_key")
		res, err := tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		defer res.Close()
		for res.Next() {
			var id int64
			var u string
			var k sql.NullString
			if err := res.Scan(&id, &u, &k); err != nil {
				return err
			}
			inserted[u] = id
			if k.Valid {
				existing[k.String] = id
			}
		}
		return res.Err()
	}
	res, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // every row was skipped
	}
	first, err := res.LastInsertId()
	if err != nil {
		return err
	}
	// Every row this statement inserted has an id from first on; rows that
	// other transactions insert meanwhile are told apart by uuid.
	uuids := make([]any, 0, len(chunk)+1)
	uuids = append(uuids, first)
	for _, r := range chunk {
		uuids = append(uuids, r.UUID)
	}
	sel, err := tx.QueryContext(ctx, "SELECT id, uuid FROM jobs WHERE id >= ? AND uuid IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", uuids...)
	if err != nil {
		return err
	}
	defer sel.Close()
	for sel.Next() {
		var id int64
		var u string
		if err := sel.Scan(&id, &u); err != nil {
			return err
		}
		inserted[u] = id
	}
	if err := sel.Err(); err != nil {
		return err
	}
	var keys []any
	for _, r := range chunk {
		if _, ok := inserted[r.UUID]; !ok && r.UniqueKey != nil {
			keys = append(keys, r.UniqueKey)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	hr, err := tx.QueryContext(ctx, "SELECT id, unique_key FROM jobs WHERE unique_key IN (?"+strings.Repeat(", ?", len(keys)-1)+")", keys...)
	if err != nil {
		return err
	}
	defer hr.Close()
	for hr.Next() {
		var id int64
		var k string
		if err := hr.Scan(&id, &k); err != nil {
			return err
		}
		existing[k] = id
	}
	return hr.Err()
}

// claimSQL reads one queue's available jobs and locks them, skipping rows
// other claimers hold: first the jobs whose lease expired (expiredSQL,
// through jobs_queue_lease), which have waited longest and must not starve
// behind a backlog, then the pending jobs in the order they became
// available (pendingSQL: the index
// jobs_queue_reserved_at_available_at_index, with queue and reserved_at IS
// NULL fixed, is ordered by available_at then id). Each row comes with the
// clock the select used and whether the claim gives its attempt back (an
// expired reservation never renewed: see dbdriver.ClaimCharge).
// Parameters: now (NULL for the database clock), queue, now, limit, then
// pendingSQL's.
const claimSQL = expiredSQL + "\nUNION ALL\n" + pendingSQL

const expiredSQL = `(SELECT COALESCE(?, ` + now + `) AS now, heartbeat_at IS NULL AS free, ` + dbdriver.JobColumns + ` FROM jobs
  WHERE queue = ? AND reserved_at IS NOT NULL AND lease_expires_at < COALESCE(?, ` + now + `)
  ORDER BY lease_expires_at LIMIT ? FOR UPDATE SKIP LOCKED)`

// pendingSQL's parameters: now, queue, now, limit.
const pendingSQL = `(SELECT COALESCE(?, ` + now + `) AS now, FALSE AS free, ` + dbdriver.JobColumns + ` FROM jobs
  WHERE queue = ? AND reserved_at IS NULL AND available_at <= COALESCE(?, ` + now + `)
  ORDER BY available_at, id LIMIT ? FOR UPDATE SKIP LOCKED)`

// rescueEvery is how often, by the claim's clock, claims look for jobs
// whose lease expired. InnoDB's locking range scan for them always reads
// (and briefly locks) the oldest reserved row, which is the row the
// completer is deleting at that moment: checking on every claim doubled
// the completions' time under load. A rescue a second late does not
// matter against a lease of many seconds.
const rescueEvery = 1 // second

// rescueDue reports whether this claim should look for expired leases.
func (d *Driver) rescueDue(now time.Time) bool {
	t := time.Now().Unix()
	if !now.IsZero() {
		t = now.Unix()
	}
	last := d.lastRescue.Load()
	if t >= last && t < last+rescueEvery {
		return false
	}
	d.lastRescue.Store(t)
	return true
}

// JobClaim reserves up to Max available jobs in one short transaction of
// two round trips (one more per extra queue drawn from): START TRANSACTION
// with the first queue's SELECT … FOR UPDATE SKIP LOCKED, then the UPDATE
// with the COMMIT. The store's connections allow several statements per
// round trip and interpolate parameters on the client.
func (d *Driver) JobClaim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, error) {
	queues := dbdriver.Dedupe(p.Queues)
	if p.Max <= 0 || len(queues) == 0 {
		return nil, nil
	}
	var jobs []*driver.JobRow
	err := dbdriver.Retry(ctx, func() error {
		var err error
		jobs, err = d.claim(ctx, p, queues)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: claim jobs: %w", err)
	}
	dbdriver.SortClaimed(jobs, queues)
	return jobs, nil
}

func (d *Driver) claim(ctx context.Context, p *driver.JobClaimParams, queues []string) (_ []*driver.JobRow, err error) {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	open := false
	defer func() {
		if open {
			endTx(conn, "ROLLBACK")
		}
	}()
	nowArg := dbdriver.UnixOrNil(p.Now)
	lease := dbdriver.LeaseSeconds(p)
	rescue := d.rescueDue(p.Now)
	var (
		jobs []*driver.JobRow
		at   int64
		free = map[int64]bool{}
	)
	for i, q := range queues {
		left := p.Max - len(jobs)
		if left <= 0 {
			break
		}
		query, args := pendingSQL, []any{nowArg, q, nowArg, left}
		if rescue {
			query, args = claimSQL, []any{nowArg, q, nowArg, left, nowArg, q, nowArg, left}
		}
		if i == 0 {
			query = "START TRANSACTION; " + query
			open = true
		}
		got, t, err := claimQueue(ctx, conn, query, args, left, free)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, got...)
		if len(got) > 0 {
			at = t
		}
	}
	if len(jobs) == 0 {
		open = false
		return nil, endTx(conn, "ROLLBACK")
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	// attempts and heartbeat_at are assigned first: MySQL evaluates SET
	// from left to right with the new values, and both read reserved_at
	// as it was.
	_, err = conn.ExecContext(ctx, "UPDATE jobs SET attempts = attempts + "+dbdriver.ClaimCharge+", heartbeat_at = "+dbdriver.ClaimMark+
		", claim_seq = claim_seq + 1, reserved_at = ?, reserved_by = ?, lease_expires_at = ? WHERE id IN ("+dbdriver.LiteralIDs(ids)+"); COMMIT", at, p.WorkerID, at+lease)
	if err != nil {
		return nil, err
	}
	open = false
	reservedAt, leaseEnd := time.Unix(at, 0).UTC(), time.Unix(at+lease, 0).UTC()
	for _, j := range jobs {
		if !free[j.ID] {
			j.Attempts++
		}
		j.ClaimSeq++
		j.ReservedAt = reservedAt
		j.ReservedBy = p.WorkerID
		j.LeaseExpiresAt = leaseEnd
	}
	return jobs, nil
}

// endTx ends the transaction the claim opened by hand. database/sql does
// not know about it, so a connection that cannot end it is discarded
// rather than handed, mid-transaction, to the next user of the pool.
func endTx(conn *sql.Conn, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := conn.ExecContext(ctx, stmt)
	if err != nil {
		_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
	}
	return err
}

// claimQueue runs one queue's claim select, which locks up to limit jobs,
// and returns them with the clock the select used, adding to free the jobs
// whose claim gives their attempt back. The query may start with START
// TRANSACTION: the MySQL driver skips the empty results of leading
// statements.
func claimQueue(ctx context.Context, conn *sql.Conn, query string, args []any, limit int, free map[int64]bool) ([]*driver.JobRow, int64, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		jobs []*driver.JobRow
		at   int64
		seen = map[int64]bool{}
	)
	for rows.Next() {
		var (
			t    int64
			give bool
		)
		j, err := dbdriver.ScanJob(prefixScanner{rows, []any{&t, &give}})
		if err != nil {
			return nil, 0, err
		}
		at = t
		if give {
			free[j.ID] = true
		}
		// The two halves never overlap (reserved_at is NULL in one and not
		// in the other), but the union may return more than limit rows.
		if !seen[j.ID] && len(jobs) < limit {
			seen[j.ID] = true
			jobs = append(jobs, j)
		}
	}
	return jobs, at, rows.Err()
}

// prefixScanner scans leading columns into first, then the job columns.
type prefixScanner struct {
	rows  *sql.Rows
	first []any
}

func (s prefixScanner) Scan(dest ...any) error {
	return s.rows.Scan(append(s.first[:len(s.first):len(s.first)], dest...)...)
}

// JobCompleteMany deletes finished jobs still held by their claim and
// returns the jobs whose claim no longer holds. MariaDB does it in one
// DELETE … RETURNING; MySQL, whose DELETE returns no rows, locks the
// matching rows with a SELECT … FOR UPDATE first and deletes those, in
// one transaction, so that it knows exactly which completions were stale.
func (d *Driver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	if d.returning || p == nil || len(p.Jobs) == 0 {
		return d.Base.JobCompleteMany(ctx, p)
	}
	cond, _ := d.Dialect.LeaseList(p.Jobs)
	var done []int64
	err := dbdriver.Retry(ctx, func() error {
		return d.DB.InTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, "SELECT id FROM jobs WHERE reserved_by = ? AND "+cond+" FOR UPDATE", p.WorkerID)
			if err != nil {
				return err
			}
			if done, err = dbdriver.ScanIDs(rows); err != nil || len(done) == 0 {
				return err
			}
			_, err = tx.ExecContext(ctx, "DELETE FROM jobs WHERE id IN ("+dbdriver.LiteralIDs(done)+")")
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("queue: complete jobs: %w", err)
	}
	return dbdriver.StaleLeases(p.Jobs, done), nil
}
