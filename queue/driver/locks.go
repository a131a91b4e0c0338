package driver

import (
	"context"
	"time"
)

// Locks is the capability of an Admin over expiring locks
// (cache_locks) that every server sees: job middleware
// (WithoutOverlapping) takes them, and so may the application's own jobs
// that must run one at a time.
type Locks interface {
	// LockAcquire takes an expiring lock (cache_locks) for owner; it reports
	// false when someone else holds it and it has not expired.
	LockAcquire(ctx context.Context, params *LockAcquireParams) (bool, error)
	// LockRelease frees a lock if owner holds it.
	LockRelease(ctx context.Context, key, owner string) error
	// LockOwner returns the owner of a lock that has not expired; ok is
	// false when nobody holds it.
	LockOwner(ctx context.Context, key string) (owner string, ok bool, err error)
}

// LockAcquireParams take lock Key for Owner until TTL passes.
type LockAcquireParams struct {
	Key   string
	Owner string
	TTL   time.Duration
}
