package driver

import (
	"context"
	"time"
)

// RateLimiter is the fixed-window limiter every server shares: rows of
// queue_rate_limits on the database clock, or keys with a TTL in Redis.
// Job middleware (RateLimited) and the application's own limits (logins,
// bookings, rejected payment notifications) count on it alike.
type RateLimiter interface {
	// RateLimitHit counts one hit on a fixed-window limiter and says
	// whether it is allowed; when it is not, RetryAfter is the time left in
	// the window.
	RateLimitHit(ctx context.Context, params *RateLimitHitParams) (*RateLimitResult, error)
}

// RateLimitHitParams count a hit against Limit hits per Period for Key.
type RateLimitHitParams struct {
	Key    string
	Limit  int
	Period time.Duration
}

// RateLimitResult is the answer of RateLimitHit.
type RateLimitResult struct {
	Allowed    bool
	Remaining  int
	RetryAfter time.Duration
}
