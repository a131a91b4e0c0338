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

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/store"
)

// DefaultRetryAfter is the lease used when JobClaimParams.RetryAfter is
// zero, as Laravel's database queue's retry_after.
const DefaultRetryAfter = 90 * time.Second

// Dialect is the SQL that differs between the database backends for the
// statements Base runs. Statements are written with ? placeholders and
// rebound for PostgreSQL.
type Dialect struct {
	// Store is the dialect of the database.
	Store store.Dialect
	// UnixNow is an expression for the database clock in whole Unix seconds.
	UnixNow string
	// Timestamp turns a time into a value for failed_jobs.failed_at.
	Timestamp func(t time.Time) any
	// IDList returns a condition on column id matching ids, and its args,
	// as cheap for the database as the dialect allows (one array parameter
	// on PostgreSQL, one JSON parameter on SQLite, literals on MySQL).
	IDList func(ids []int64) (cond string, args []any)
	// FailInsert is the INSERT … SELECT that copies one job into
	// failed_jobs. Its parameters are connection, exception, failed_at (or
	// NULL for the database clock), id. It replaces an earlier failed row
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
	DB      *store.DB
	Dialect *Dialect
	name    string

	retrySQL      string
	failDeleteSQL string
	cacheGetSQL   string
}

// NewBase returns a Base for db speaking dialect d. name is the
// connection's name ("database").
func NewBase(db *store.DB, d *Dialect, name string) *Base {
	if name == "" {
		name = "database"
	}
	b := &Base{DB: db, Dialect: d, name: name}
	b.retrySQL = db.Rebind(`UPDATE jobs SET reserved_at = NULL, reserved_by = NULL,
  available_at = COALESCE(?, ` + d.UnixNow + `) + ?,
  attempts = CASE WHEN ? AND attempts > 0 THEN attempts - 1 ELSE attempts END,
  last_error = ?
WHERE id = ?`)
	b.failDeleteSQL = db.Rebind(`DELETE FROM jobs WHERE id = ?`)
	b.cacheGetSQL = db.Rebind(`SELECT value FROM cache WHERE ` + quoteKey(d.Store) + ` = ? AND (expiration = 0 OR expiration > ` + d.UnixNow + `)`)
	return b
}

func quoteKey(d store.Dialect) string {
	if d == store.MySQL {
		return "`key`"
	}
	return "key"
}

// Name returns the connection name.
func (b *Base) Name() string { return b.name }

// JobCompleteMany deletes finished jobs in one statement.
func (b *Base) JobCompleteMany(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	cond, args := b.Dialect.IDList(ids)
	if b.Dialect.AsyncCommit != "" {
		cond += " AND " + b.Dialect.AsyncCommit
	}
	q := b.DB.Rebind("DELETE FROM jobs WHERE " + cond)
	err := Retry(ctx, func() error {
		_, err := b.DB.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: complete jobs: %w", err)
	}
	return nil
}

// JobRetryMany makes reserved jobs available again after their delay, in
// one transaction.
func (b *Base) JobRetryMany(ctx context.Context, params []*driver.JobRetryParams) error {
	if len(params) == 0 {
		return nil
	}
	err := Retry(ctx, func() error { return b.retryMany(ctx, params) })
	if err != nil {
		return fmt.Errorf("queue: retry jobs: %w", err)
	}
	return nil
}

func (b *Base) retryMany(ctx context.Context, params []*driver.JobRetryParams) error {
	return b.DB.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, b.retrySQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range params {
			if _, err := stmt.ExecContext(ctx, UnixOrNil(p.Now), Seconds(p.Delay), p.Snooze, NullString(p.Error), p.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// JobFailMany moves jobs to failed_jobs in the transaction that deletes
// them from jobs.
func (b *Base) JobFailMany(ctx context.Context, params []*driver.JobFailParams) error {
	if len(params) == 0 {
		return nil
	}
	err := Retry(ctx, func() error { return b.failMany(ctx, params) })
	if err != nil {
		return fmt.Errorf("queue: fail jobs: %w", err)
	}
	return nil
}

func (b *Base) failMany(ctx context.Context, params []*driver.JobFailParams) error {
	return b.DB.InTx(ctx, func(tx *sql.Tx) error {
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
			var at any
			if !p.Now.IsZero() {
				at = b.Dialect.Timestamp(p.Now)
			}
			conn := p.Connection
			if conn == "" {
				conn = b.name
			}
			if _, err := ins.ExecContext(ctx, conn, p.Exception, at, p.ID); err != nil {
				return err
			}
			if _, err := del.ExecContext(ctx, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// JobHeartbeatMany sets reserved_at to the database clock for the jobs
// still reserved by workerID.
func (b *Base) JobHeartbeatMany(ctx context.Context, ids []int64, workerID string) error {
	if len(ids) == 0 {
		return nil
	}
	cond, args := b.Dialect.IDList(ids)
	q := b.DB.Rebind("UPDATE jobs SET reserved_at = " + b.Dialect.UnixNow + " WHERE reserved_by = ? AND " + cond)
	args = append([]any{workerID}, args...)
	err := Retry(ctx, func() error {
		_, err := b.DB.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: heartbeat jobs: %w", err)
	}
	return nil
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
// transient lock conflict (store.IsRetryable), or ctx ends. Deadlocks and
// busy errors therefore never reach the engine as job failures.
func Retry(ctx context.Context, fn func() error) error {
	const maxAttempts = 50
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !store.IsRetryable(err) || attempt == maxAttempts || ctx.Err() != nil {
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

// LeaseSeconds returns the lease of a claim in whole seconds. Reservation
// times are whole seconds too, truncated, so claims treat a lease as
// expired when reserved_at < now - lease: never before the full lease.
func LeaseSeconds(p *driver.JobClaimParams) int64 {
	if p.RetryAfter <= 0 {
		return Seconds(DefaultRetryAfter)
	}
	return Seconds(p.RetryAfter)
}

// JobColumns are the columns ScanJob reads, in order.
const JobColumns = "id, uuid, queue, kind, payload, attempts, max_attempts, reserved_at, available_at, created_at, unique_key, batch_id, reserved_by, last_error"

// ScanJob reads one row of JobColumns.
func ScanJob(rows interface{ Scan(...any) error }) (*driver.JobRow, error) {
	var (
		j                       driver.JobRow
		reservedAt              sql.NullInt64
		availableAt, createdAt  int64
		unique, batch, by, last sql.NullString
	)
	if err := rows.Scan(&j.ID, &j.UUID, &j.Queue, &j.Kind, &j.Payload, &j.Attempts, &j.MaxAttempts,
		&reservedAt, &availableAt, &createdAt, &unique, &batch, &by, &last); err != nil {
		return nil, err
	}
	if reservedAt.Valid {
		j.ReservedAt = time.Unix(reservedAt.Int64, 0).UTC()
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
