// Package dbdriver holds what the SQL queue drivers (tripinsqlite,
// tripinmysql, tripinpgsql) share: completing, retrying, failing and
// heartbeating jobs, the cache, row scanning and the retry loop for
// transient lock errors. Each dialect plugs in the few expressions that
// differ through Dialect; the hot claim and insert statements stay in the
// dialect packages, tuned for their database.
package dbdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// DefaultRetryAfter is the lease used when JobClaimParams.RetryAfter is
// zero, as Laravel's database queue's retry_after.
const DefaultRetryAfter = driver.DefaultLease

// Dialect is the SQL that differs between the database backends for the
// statements Base runs. Statements are written with ? placeholders and
// rebound for PostgreSQL.
type Dialect struct {
	// Store is the dialect of the database.
	Store sqldb.Dialect
	// UnixNow is an expression for the database clock in whole Unix seconds.
	UnixNow string
	// Timestamp turns a time into a value for failed_jobs.failed_at.
	Timestamp func(t time.Time) any
	// IDList returns a condition on column id matching ids, and its args,
	// as cheap for the database as the dialect allows (one array parameter
	// on PostgreSQL, one JSON parameter on SQLite, literals on MySQL).
	IDList func(ids []int64) (cond string, args []any)
	// LeaseList returns a condition matching the jobs of leases by id and
	// claim_seq (the caller adds reserved_by), and its args, finding the
	// rows by primary key.
	LeaseList func(leases []driver.JobLease) (cond string, args []any)
	// Returning is true when DELETE and UPDATE take RETURNING.
	Returning bool
	// LockRow ends a SELECT that must lock the row it reads until the
	// transaction ends ("" where the transaction already holds the only
	// writer, as on SQLite).
	LockRow string
	// FailInsert is the INSERT … SELECT that copies one job into
	// failed_jobs. Its parameters are connection, exception, failed_at (or
	// NULL for the database clock), error_log, id. It replaces an earlier failed row
	// with the same uuid (a retried job that failed again).
	FailInsert string
	// CachePut is the upsert into cache; parameters key, value, expiration.
	CachePut string
	// AsyncCommit, when set, is a condition that is always true and lets
	// the statement's transaction commit without waiting for its WAL flush.
	// JobCompleteMany uses it: a completion forgotten by a database crash
	// only runs the job again, which at-least-once delivery allows.
	AsyncCommit string
}

// Base implements the parts of driver.Driver that every SQL backend runs
// alike. Dialect packages embed it and add JobInsertMany, JobInsertManyTx
// and JobClaim.
type Base struct {
	DB      *sqldb.DB
	Dialect *Dialect
	name    string

	retrySQL      string
	failLockSQL   string
	failDeleteSQL string
	heartbeatSQL  string
	cacheGetSQL   string
}

// NewBase returns a Base for db speaking dialect d. name is the
// connection's name ("database").
func NewBase(db *sqldb.DB, d *Dialect, name string) *Base {
	if name == "" {
		name = "database"
	}
	b := &Base{DB: db, Dialect: d, name: name}
	// attempts is assigned before the columns it reads: MySQL evaluates
	// SET from left to right with the new values.
	b.retrySQL = db.Rebind(`UPDATE jobs SET
  attempts = CASE WHEN ? AND attempts > 0 THEN attempts - 1 ELSE attempts END,
  reserved_at = NULL, reserved_by = NULL, lease_expires_at = NULL, heartbeat_at = NULL,
  available_at = COALESCE(?, ` + d.UnixNow + `) + ?,
  last_error = ?, error_log = COALESCE(?, error_log)
WHERE id = ? AND reserved_by = ? AND claim_seq = ?`)
	b.failLockSQL = db.Rebind(`SELECT 1 FROM jobs WHERE id = ? AND reserved_by = ? AND claim_seq = ?` + d.LockRow)
	b.failDeleteSQL = db.Rebind(`DELETE FROM jobs WHERE id = ?`)
	b.heartbeatSQL = db.Rebind(`UPDATE jobs SET lease_expires_at = COALESCE(?, ` + d.UnixNow + `) + ?,
  heartbeat_at = COALESCE(?, ` + d.UnixNow + `)
WHERE id = ? AND reserved_by = ? AND claim_seq = ? AND reserved_at IS NOT NULL`)
	b.cacheGetSQL = db.Rebind(`SELECT value FROM cache WHERE ` + quoteKey(d.Store) + ` = ? AND (expiration = 0 OR expiration > ` + d.UnixNow + `)`)
	return b
}

func quoteKey(d sqldb.Dialect) string {
	if d == sqldb.MySQL {
		return "`key`"
	}
	return "key"
}

// Name returns the connection name.
func (b *Base) Name() string { return b.name }

// JobCompleteMany deletes finished jobs still held by their claim, in one
// statement, and returns the jobs whose claim no longer holds.
func (b *Base) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	if p == nil || len(p.Jobs) == 0 {
		return nil, nil
	}
	if !b.Dialect.Returning {
		return nil, errors.New("queue: complete jobs: the dialect has no RETURNING; its driver must complete jobs itself")
	}
	cond, args := b.Dialect.LeaseList(p.Jobs)
	if b.Dialect.AsyncCommit != "" {
		cond += " AND " + b.Dialect.AsyncCommit
	}
	q := b.DB.Rebind("DELETE FROM jobs WHERE reserved_by = ? AND " + cond + " RETURNING id")
	args = append([]any{p.WorkerID}, args...)
	var done []int64
	err := Retry(ctx, func() error {
		rows, err := b.DB.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		done, err = ScanIDs(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: complete jobs: %w", err)
	}
	return StaleLeases(p.Jobs, done), nil
}

// ScanIDs reads a column of ids and closes rows.
func ScanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// StaleLeases returns the ids of leases that are not in written.
func StaleLeases(leases []driver.JobLease, written []int64) []int64 {
	if len(written) == len(leases) {
		return nil
	}
	ok := make(map[int64]bool, len(written))
	for _, id := range written {
		ok[id] = true
	}
	var stale []int64
	for _, l := range leases {
		if !ok[l.ID] {
			stale = append(stale, l.ID)
		}
	}
	return stale
}

// JobRetryMany makes reserved jobs available again after their delay, in
// one transaction, and returns the jobs whose claim no longer holds.
func (b *Base) JobRetryMany(ctx context.Context, params []*driver.JobRetryParams) ([]int64, error) {
	if len(params) == 0 {
		return nil, nil
	}
	var stale []int64
	err := Retry(ctx, func() error {
		var err error
		stale, err = b.retryMany(ctx, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: retry jobs: %w", err)
	}
	return stale, nil
}

func (b *Base) retryMany(ctx context.Context, params []*driver.JobRetryParams) ([]int64, error) {
	var stale []int64
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		stale = stale[:0]
		stmt, err := tx.PrepareContext(ctx, b.retrySQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range params {
			res, err := stmt.ExecContext(ctx, p.Snooze, UnixOrNil(p.Now), Seconds(p.Delay), NullString(p.Error), NullBytes(p.ErrorLog), p.ID, p.WorkerID, p.Claim)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				stale = append(stale, p.ID)
			}
		}
		return nil
	})
	return stale, err
}

// JobFailMany moves jobs to failed_jobs in the transaction that deletes
// them from jobs, and returns the jobs whose claim no longer holds.
func (b *Base) JobFailMany(ctx context.Context, params []*driver.JobFailParams) ([]int64, error) {
	if len(params) == 0 {
		return nil, nil
	}
	var stale []int64
	err := Retry(ctx, func() error {
		var err error
		stale, err = b.failMany(ctx, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: fail jobs: %w", err)
	}
	return stale, nil
}

func (b *Base) failMany(ctx context.Context, params []*driver.JobFailParams) ([]int64, error) {
	var stale []int64
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		stale = stale[:0]
		lock, err := tx.PrepareContext(ctx, b.failLockSQL)
		if err != nil {
			return err
		}
		defer lock.Close()
		ins, err := tx.PrepareContext(ctx, b.Dialect.FailInsert)
		if err != nil {
			return err
		}
		defer ins.Close()
		del, err := tx.PrepareContext(ctx, b.failDeleteSQL)
		if err != nil {
			return err
		}
		defer del.Close()
		for _, p := range params {
			// The row is locked while its claim is checked, so that no
			// claim takes it over between the copy and the delete.
			var one int
			err := lock.QueryRowContext(ctx, p.ID, p.WorkerID, p.Claim).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				stale = append(stale, p.ID)
				continue
			}
			if err != nil {
				return err
			}
			var at any
			if !p.Now.IsZero() {
				at = b.Dialect.Timestamp(p.Now)
			}
			conn := p.Connection
			if conn == "" {
				conn = b.name
			}
			if _, err := ins.ExecContext(ctx, conn, p.Exception, at, NullBytes(p.ErrorLog), p.ID); err != nil {
				return err
			}
			if _, err := del.ExecContext(ctx, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return stale, err
}

// JobHeartbeatMany moves the lease of each job still held by its claim to
// Lease past the database clock and marks the claim started, in one
// transaction, and returns the jobs it could not renew.
func (b *Base) JobHeartbeatMany(ctx context.Context, p *driver.JobHeartbeatParams) ([]int64, error) {
	if p == nil || len(p.Jobs) == 0 {
		return nil, nil
	}
	lease := p.Lease
	if lease <= 0 {
		lease = driver.DefaultLease
	}
	var lost []int64
	err := Retry(ctx, func() error {
		return b.DB.InTx(ctx, func(tx *sql.Tx) error {
			lost = lost[:0]
			stmt, err := tx.PrepareContext(ctx, b.heartbeatSQL)
			if err != nil {
				return err
			}
			defer stmt.Close()
			now := UnixOrNil(p.Now)
			for _, j := range p.Jobs {
				res, err := stmt.ExecContext(ctx, now, Seconds(lease), now, j.ID, p.WorkerID, j.Claim)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 0 {
					lost = append(lost, j.ID)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("queue: heartbeat jobs: %w", err)
	}
	return lost, nil
}

// ClaimHeldTx reports whether a job is still held by a worker's claim, and
// locks its row until tx ends.
func (b *Base) ClaimHeldTx(ctx context.Context, tx *sql.Tx, workerID string, l driver.JobLease) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, b.failLockSQL, l.ID, workerID, l.Claim).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: check the claim of job %d: %w", l.ID, err)
	}
	return true, nil
}

// JobGet reads one job by id; driver.ErrNotFound once it has left the
// jobs table.
func (b *Base) JobGet(ctx context.Context, id int64) (*driver.JobRow, error) {
	row := b.DB.QueryRowContext(ctx, b.DB.Rebind("SELECT "+JobColumns+" FROM jobs WHERE id = ?"), id)
	j, err := ScanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, driver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("queue: get job %d: %w", id, err)
	}
	return j, nil
}

// Now returns the database clock.
func (b *Base) Now(ctx context.Context) (time.Time, error) {
	return b.DB.Now(ctx)
}

// CacheGet reads a cache entry; an expired entry reads as missing. It reads
// through the store's read pool, so that on SQLite a worker polling for a
// signal never waits behind the single writer.
func (b *Base) CacheGet(ctx context.Context, key string) (string, bool, error) {
	read := b.DB.Read
	if read == nil {
		read = b.DB.DB
	}
	var v string
	err := read.QueryRowContext(ctx, b.cacheGetSQL, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("queue: cache get %s: %w", key, err)
	}
	return v, true, nil
}

// CachePut writes a cache entry that expires after ttl (0 keeps it).
func (b *Base) CachePut(ctx context.Context, key, value string, ttl time.Duration) error {
	err := Retry(ctx, func() error {
		var exp int64
		if ttl > 0 {
			now, err := b.DB.Now(ctx)
			if err != nil {
				return err
			}
			exp = now.Unix() + Seconds(ttl)
		}
		_, err := b.DB.ExecContext(ctx, b.Dialect.CachePut, key, value, exp)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: cache put %s: %w", key, err)
	}
	return nil
}

// Retry runs fn until it succeeds, fails with an error that is not a
// transient lock conflict (sqldb.IsRetryable), or ctx ends. Deadlocks and
// busy errors therefore never reach the engine as job failures.
func Retry(ctx context.Context, fn func() error) error {
	const maxAttempts = 50
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !sqldb.IsRetryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		d := time.Duration(min(attempt*attempt, 200)) * time.Millisecond / 2
		d += time.Duration(rand.Int64N(int64(d) + 1))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// Seconds rounds d up to whole seconds, the resolution of the jobs table,
// so that a delay is never shortened.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// UnixOrNil returns t as Unix seconds, or nil for the zero time so that
// SQL falls back to the database clock.
func UnixOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// NullString returns nil for "" so that SQL stores NULL.
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullBytes is b as a string parameter, or NULL when b is empty.
func NullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// ClaimCharge is what a claim adds to a job's attempts: nothing for an
// expired reservation never renewed (and not itself a takeover of one),
// one otherwise. It reads the row as it was before the claim.
const ClaimCharge = "CASE WHEN reserved_at IS NOT NULL AND heartbeat_at IS NULL THEN 0 ELSE 1 END"

// ClaimMark is heartbeat_at after a claim: 0 marks a takeover that gave
// the attempt back, so that the next one charges it.
const ClaimMark = "CASE WHEN reserved_at IS NOT NULL AND heartbeat_at IS NULL THEN 0 ELSE NULL END"

// LeaseSeconds returns the lease of a claim in whole seconds, rounded up.
// Times are whole seconds too, truncated, and claims treat a lease as
// expired only when lease_expires_at < now: never before the full lease.
func LeaseSeconds(p *driver.JobClaimParams) int64 {
	if p.RetryAfter <= 0 {
		return Seconds(DefaultRetryAfter)
	}
	return Seconds(p.RetryAfter)
}

// JobColumns are the columns ScanJob reads, in order.
const JobColumns = "id, uuid, queue, kind, payload, attempts, max_attempts, reserved_at, available_at, created_at, unique_key, batch_id, reserved_by, last_error, lease_expires_at, claim_seq, error_log"

// ScanJob reads one row of JobColumns.
func ScanJob(rows interface{ Scan(...any) error }) (*driver.JobRow, error) {
	var (
		j                       driver.JobRow
		reservedAt, leaseEnd    sql.NullInt64
		availableAt, createdAt  int64
		unique, batch, by, last sql.NullString
	)
	if err := rows.Scan(&j.ID, &j.UUID, &j.Queue, &j.Kind, &j.Payload, &j.Attempts, &j.MaxAttempts,
		&reservedAt, &availableAt, &createdAt, &unique, &batch, &by, &last, &leaseEnd, &j.ClaimSeq, &j.ErrorLog); err != nil {
		return nil, err
	}
	if reservedAt.Valid {
		j.ReservedAt = time.Unix(reservedAt.Int64, 0).UTC()
	}
	if leaseEnd.Valid {
		j.LeaseExpiresAt = time.Unix(leaseEnd.Int64, 0).UTC()
	}
	j.AvailableAt = time.Unix(availableAt, 0).UTC()
	j.CreatedAt = time.Unix(createdAt, 0).UTC()
	j.UniqueKey, j.BatchID, j.ReservedBy, j.LastError = unique.String, batch.String, by.String, last.String
	return &j, nil
}

// ScanJobs reads every row of JobColumns and closes rows.
func ScanJobs(rows *sql.Rows) ([]*driver.JobRow, error) {
	defer rows.Close()
	var jobs []*driver.JobRow
	for rows.Next() {
		j, err := ScanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// SortClaimed orders claimed jobs as the claim chose them: by the priority
// of their queue in queues, then by when they became available, then by
// id.
func SortClaimed(jobs []*driver.JobRow, queues []string) {
	if len(jobs) < 2 {
		return
	}
	prio := make(map[string]int, len(queues))
	for i, q := range queues {
		if _, ok := prio[q]; !ok {
			prio[q] = i
		}
	}
	slices.SortFunc(jobs, func(a, b *driver.JobRow) int {
		if pa, pb := prio[a.Queue], prio[b.Queue]; pa != pb {
			return pa - pb
		}
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// JSONLeases renders leases as a JSON array of [id, claim_seq] pairs, for
// SQLite's json_each.
func JSONLeases(leases []driver.JobLease) string {
	var b strings.Builder
	b.Grow(len(leases)*12 + 2)
	b.WriteByte('[')
	for i, l := range leases {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		b.WriteString(strconv.FormatInt(l.ID, 10))
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(l.Claim, 10))
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.String()
}

// LeaseIDs returns the ids of leases.
func LeaseIDs(leases []driver.JobLease) []int64 {
	ids := make([]int64, len(leases))
	for i, l := range leases {
		ids[i] = l.ID
	}
	return ids
}

// JSONIDs renders ids as a JSON array, for SQLite's json_each.
func JSONIDs(ids []int64) string {
	var b strings.Builder
	b.Grow(len(ids)*8 + 2)
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// LiteralIDs renders ids as a comma-separated SQL list of integers.
func LiteralIDs(ids []int64) string {
	s := JSONIDs(ids)
	return s[1 : len(s)-1]
}

// Dedupe returns queues without repeats, keeping the first occurrence.
func Dedupe(queues []string) []string {
	seen := make(map[string]bool, len(queues))
	out := queues[:0:0]
	for _, q := range queues {
		if !seen[q] {
			seen[q] = true
			out = append(out, q)
		}
	}
	return out
}
