package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// Locker is a set of named, expiring locks in the cache_locks table, shared
// by every process that uses the database (Laravel's database cache locks).
// A lock has one owner until it is released by that owner or its expiration
// passes; expiry is judged by the database clock, so servers with drifting
// clocks agree on it.
type Locker struct {
	db *store.DB
}

// NewLocker returns a Locker over db's cache_locks table.
func NewLocker(db *store.DB) *Locker { return &Locker{db: db} }

// querier is what lock statements run on: the database or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// keyCol is the key column, a reserved word in MySQL.
func keyCol(d store.Dialect) string {
	if d == store.MySQL {
		return "`key`"
	}
	return `"key"`
}

func ttlSeconds(ttl time.Duration) int64 {
	s := int64((ttl + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Acquire takes the lock key for owner for ttl (rounded up to whole
// seconds) and reports whether it did. It succeeds when the lock is free or
// its expiration has passed, in one atomic statement: an insert, or a
// conditional take-over of the expired row. An owner holding an unexpired
// lock does not get it again.
func (l *Locker) Acquire(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	var ok bool
	err := l.retry(ctx, func() error {
		var err error
		ok, err = l.acquire(ctx, l.db.DB, key, owner, ttl)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("schedule: acquire lock %s: %w", key, err)
	}
	return ok, nil
}

func (l *Locker) acquire(ctx context.Context, q querier, key, owner string, ttl time.Duration) (bool, error) {
	d := l.db.Dialect
	now, k, secs := store.UnixNowSQL(d), keyCol(d), ttlSeconds(ttl)
	var (
		query string
		args  []any
	)
	switch d {
	case store.MySQL:
		// Assignments run left to right and owner is set first, so the
		// second IF still sees the old expiration. Affected rows: 1 for an
		// insert, 2 for a take-over, 0 when the lock is held.
		query = "INSERT INTO cache_locks (" + k + ", owner, expiration) VALUES (?, ?, " + now + " + ?)" +
			" ON DUPLICATE KEY UPDATE owner = IF(expiration <= " + now + ", ?, owner)," +
			" expiration = IF(expiration <= " + now + ", " + now + " + ?, expiration)"
		args = []any{key, owner, secs, owner, secs}
	default:
		query = "INSERT INTO cache_locks (" + k + ", owner, expiration) VALUES (?, ?, " + now + " + ?)" +
			" ON CONFLICT (" + k + ") DO UPDATE SET owner = excluded.owner, expiration = excluded.expiration" +
			" WHERE cache_locks.expiration <= " + now
		args = []any{key, owner, secs}
	}
	res, err := q.ExecContext(ctx, l.db.Rebind(query), args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// Release frees the lock key if owner holds it, and reports whether it did.
// Nobody else's lock is ever released.
func (l *Locker) Release(ctx context.Context, key, owner string) (bool, error) {
	return l.release(ctx, l.db.DB, key, owner)
}

func (l *Locker) release(ctx context.Context, q querier, key, owner string) (bool, error) {
	var n int64
	err := l.retry(ctx, func() error {
		res, err := q.ExecContext(ctx, l.db.Rebind("DELETE FROM cache_locks WHERE "+keyCol(l.db.Dialect)+" = ? AND owner = ?"), key, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("schedule: release lock %s: %w", key, err)
	}
	return n > 0, nil
}

// Transfer hands the lock key from owner from to owner to and sets it to
// expire ttl from now, if from still holds it (expired or not). It reports
// whether it did.
func (l *Locker) Transfer(ctx context.Context, key, from, to string, ttl time.Duration) (bool, error) {
	var ok bool
	err := l.retry(ctx, func() error {
		var err error
		ok, err = l.transfer(ctx, l.db.DB, key, from, to, ttl)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("schedule: transfer lock %s: %w", key, err)
	}
	return ok, nil
}

func (l *Locker) transfer(ctx context.Context, q querier, key, from, to string, ttl time.Duration) (bool, error) {
	d := l.db.Dialect
	res, err := q.ExecContext(ctx, l.db.Rebind("UPDATE cache_locks SET owner = ?, expiration = "+store.UnixNowSQL(d)+" + ? WHERE "+keyCol(d)+" = ? AND owner = ?"),
		to, ttlSeconds(ttl), key, from)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// LockState is a lock as stored.
type LockState struct {
	Owner     string
	ExpiresAt time.Time
	// Expired is judged by the database clock.
	Expired bool
}

// Get returns the lock key as stored, and false when there is no such row.
func (l *Locker) Get(ctx context.Context, key string) (LockState, bool, error) {
	d := l.db.Dialect
	var (
		st      LockState
		exp     int64
		expired int
	)
	err := l.db.DB.QueryRowContext(ctx, l.db.Rebind("SELECT owner, expiration, CASE WHEN expiration <= "+store.UnixNowSQL(d)+" THEN 1 ELSE 0 END FROM cache_locks WHERE "+keyCol(d)+" = ?"), key).
		Scan(&st.Owner, &exp, &expired)
	if errors.Is(err, sql.ErrNoRows) {
		return LockState{}, false, nil
	}
	if err != nil {
		return LockState{}, false, fmt.Errorf("schedule: read lock %s: %w", key, err)
	}
	st.ExpiresAt, st.Expired = time.Unix(exp, 0).UTC(), expired == 1
	return st, true, nil
}

// PruneExpired deletes expired locks whose key starts with prefix (the
// per-tick OnOneServer locks pile up otherwise) and returns how many.
func (l *Locker) PruneExpired(ctx context.Context, prefix string) (int64, error) {
	d := l.db.Dialect
	pattern := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(prefix) + "%"
	res, err := l.db.DB.ExecContext(ctx, l.db.Rebind("DELETE FROM cache_locks WHERE "+keyCol(d)+" LIKE ? ESCAPE '!' AND expiration <= "+store.UnixNowSQL(d)), pattern)
	if err != nil {
		return 0, fmt.Errorf("schedule: prune locks: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// retry runs fn again after a short pause when the database reports a
// deadlock or busy lock: concurrent upserts of one key can deadlock on
// InnoDB, and the statements are safe to repeat.
func (l *Locker) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !store.IsRetryable(err) || attempt == 8 || ctx.Err() != nil {
			return err
		}
		d := time.Duration(attempt*attempt)*time.Millisecond + time.Duration(rand.Int64N(int64(time.Millisecond)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}
