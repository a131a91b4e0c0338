package dbdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Base keeps expiring locks (driver.Locks) in cache_locks.
var _ driver.Locks = (*Base)(nil)

// LockAcquire takes key for owner: an expired lock, or one owner already
// holds (a job redelivered after its worker died), is taken over.
func (b *Base) LockAcquire(ctx context.Context, p *driver.LockAcquireParams) (bool, error) {
	now, k := b.nowExpr(), b.keyCol()
	ttl := max(Seconds(p.TTL), 1)
	ins := "INSERT INTO cache_locks (" + k + ", owner, expiration) VALUES (?, ?, " + now + " + ?)"
	if b.d() == sqldb.MySQL {
		ins += " ON DUPLICATE KEY UPDATE owner = owner"
	} else {
		ins += " ON CONFLICT (" + k + ") DO NOTHING"
	}
	var ok bool
	err := Retry(ctx, func() error {
		if _, err := b.DB.ExecContext(ctx, b.q("DELETE FROM cache_locks WHERE "+k+" = ? AND (expiration <= "+now+" OR owner = ?)"), p.Key, p.Owner); err != nil {
			return err
		}
		res, err := b.DB.ExecContext(ctx, b.q(ins), p.Key, p.Owner, ttl)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("queue: acquire lock %s: %w", p.Key, err)
	}
	return ok, nil
}

// LockOwner returns the owner of a lock that has not expired.
func (b *Base) LockOwner(ctx context.Context, key string) (string, bool, error) {
	var owner string
	err := b.DB.QueryRowContext(ctx, b.q("SELECT owner FROM cache_locks WHERE "+b.keyCol()+" = ? AND expiration > "+b.nowExpr()), key).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("queue: lock owner %s: %w", key, err)
	}
	return owner, true, nil
}

// LockRelease frees key if owner holds it.
func (b *Base) LockRelease(ctx context.Context, key, owner string) error {
	if _, err := b.exec(ctx, "DELETE FROM cache_locks WHERE "+b.keyCol()+" = ? AND owner = ?", key, owner); err != nil {
		return fmt.Errorf("queue: release lock %s: %w", key, err)
	}
	return nil
}
