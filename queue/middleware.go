package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// Middleware wraps the run of a job, as Laravel's job middleware do.
// Before is called before the handler: a release delay above zero puts
// the job back on its queue for that long without using an attempt, and
// the handler does not run. After is called once the attempt has ended
// (whatever its outcome) for every middleware whose Before let the job
// through. State shared between processes lives in the database, through
// adm, so the middleware hold across workers and servers.
type Middleware interface {
	Before(ctx context.Context, adm driver.Admin, row *driver.JobRow) (release time.Duration, err error)
	After(ctx context.Context, adm driver.Admin, row *driver.JobRow)
}

// AddMiddleware registers the middleware of the jobs of T's kind: fn
// receives each job's decoded args and returns the middleware to apply,
// in order (keys usually come from the args, such as a booking id).
func AddMiddleware[T JobArgs](o *Ops, fn func(args T) []Middleware) {
	var zero T
	kind := zero.Kind()
	o.mwMu.Lock()
	defer o.mwMu.Unlock()
	o.middleware[kind] = func(data []byte) ([]Middleware, error) {
		var args T
		if len(data) > 0 && string(data) != "null" {
			if err := json.Unmarshal(data, &args); err != nil {
				return nil, Permanent(fmt.Errorf("queue: decode %s args for its middleware: %w", kind, err))
			}
		}
		return fn(args), nil
	}
}

func (o *Ops) middlewareFor(row *driver.JobRow) ([]Middleware, error) {
	o.mwMu.RLock()
	build := o.middleware[row.Kind]
	o.mwMu.RUnlock()
	if build == nil {
		return nil, nil
	}
	p, err := DecodePayload(row.Payload)
	if err != nil {
		return nil, Permanent(err)
	}
	return build(p.Data)
}

// overlapPrefix is Laravel's cache prefix for WithoutOverlapping locks.
const overlapPrefix = "laravel-queue-overlap:"

// DefaultOverlapExpiry is how long a WithoutOverlapping lock lives when
// its holder never releases it (a worker killed mid-job).
const DefaultOverlapExpiry = time.Hour

// OverlapMiddleware is WithoutOverlapping's middleware.
type OverlapMiddleware struct {
	key          string
	releaseAfter time.Duration
	expireAfter  time.Duration
}

// WithoutOverlapping lets one job holding key run at a time, across every
// worker and server: while another job holds the key, the job is released
// back to its queue for releaseAfter (at least a second) without using an
// attempt. The lock lives in cache_locks under Laravel's key prefix.
func WithoutOverlapping(key string, releaseAfter time.Duration) *OverlapMiddleware {
	return &OverlapMiddleware{key: key, releaseAfter: releaseAfter, expireAfter: DefaultOverlapExpiry}
}

// ExpireAfter bounds how long the lock outlives a holder that never
// releases it (DefaultOverlapExpiry).
func (m *OverlapMiddleware) ExpireAfter(d time.Duration) *OverlapMiddleware {
	if d > 0 {
		m.expireAfter = d
	}
	return m
}

// Before takes the lock, or asks for a release while someone holds it. A
// lock whose holder's attempt is over (its worker died after writing the
// outcome and before freeing the lock, or died mid-job and the job has
// since been taken again) is taken over at once rather than after its
// expiry.
func (m *OverlapMiddleware) Before(ctx context.Context, adm driver.Admin, row *driver.JobRow) (time.Duration, error) {
	key, owner := overlapPrefix+m.key, lockOwner(row)
	for try := 0; try < 2; try++ {
		ok, err := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: key, Owner: owner, TTL: m.expireAfter})
		if err != nil {
			return 0, fmt.Errorf("queue: without overlapping %s: %w", m.key, err)
		}
		if ok {
			return 0, nil
		}
		holder, held, err := adm.LockOwner(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("queue: without overlapping %s: %w", m.key, err)
		}
		if held && !holderRunning(ctx, adm, holder) {
			if err := adm.LockRelease(ctx, key, holder); err != nil {
				return 0, fmt.Errorf("queue: without overlapping %s: %w", m.key, err)
			}
			continue
		}
		break
	}
	return max(m.releaseAfter, time.Second), nil
}

// After frees the lock.
func (m *OverlapMiddleware) After(ctx context.Context, adm driver.Admin, row *driver.JobRow) {
	_ = adm.LockRelease(context.WithoutCancel(ctx), overlapPrefix+m.key, lockOwner(row))
}

// lockOwner names one claim of a job as the owner of a lock: its id, uuid
// and claim_seq. The same job taken again after its worker died is a later
// claim, so a lock can tell whether its holder's run is over.
func lockOwner(row *driver.JobRow) string {
	return strconv.FormatInt(row.ID, 10) + ":" + row.UUID + ":" + strconv.FormatInt(row.ClaimSeq, 10)
}

// holderRunning reports whether the claim named by a lock owner may still
// be running: its job is still in the queue, reserved by that claim.
// Owners it cannot read (written by an older version: a bare uuid) and
// drivers that cannot look jobs up count as running, so their locks wait
// for their expiry as before.
func holderRunning(ctx context.Context, adm driver.Admin, owner string) bool {
	jg, ok := adm.(driver.JobGetter)
	if !ok {
		return true
	}
	parts := strings.Split(owner, ":")
	if len(parts) != 3 {
		return true
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	claim, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return true
	}
	j, err := jg.JobGet(ctx, id)
	if errors.Is(err, driver.ErrNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	return j.UUID == parts[1] && !j.ReservedAt.IsZero() && j.ClaimSeq == claim
}

// rateLimitPrefix names the limiter rows of RateLimited.
const rateLimitPrefix = "laravel-queue-rate:"

// RateLimitMiddleware is RateLimited's middleware.
type RateLimitMiddleware struct {
	key    string
	limit  int
	period time.Duration
}

// RateLimited lets at most limit jobs holding key start per period (a
// fixed window on the database clock), across every worker and server;
// a job over the limit is released until the window ends, without using
// an attempt.
func RateLimited(key string, limit int, period time.Duration) *RateLimitMiddleware {
	return &RateLimitMiddleware{key: key, limit: limit, period: period}
}

// Before counts the job against the limiter.
func (m *RateLimitMiddleware) Before(ctx context.Context, adm driver.Admin, row *driver.JobRow) (time.Duration, error) {
	r, err := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: rateLimitPrefix + m.key, Limit: m.limit, Period: m.period})
	if err != nil {
		return 0, fmt.Errorf("queue: rate limited %s: %w", m.key, err)
	}
	if r.Allowed {
		return 0, nil
	}
	return max(r.RetryAfter, time.Second), nil
}

// After does nothing: a hit counts whether or not the job succeeds.
func (m *RateLimitMiddleware) After(context.Context, driver.Admin, *driver.JobRow) {}
