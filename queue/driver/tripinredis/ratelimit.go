package tripinredis

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// rateLimitScript counts a hit on a fixed-window limiter by Redis's clock.
// ARGV: prefix, key, limit, period in seconds. The window is aligned as
// the SQL drivers align it (now - now % period), and its counter is the
// key P rate:<key>:<window start>, which expires a second after the window
// ends: nothing is left to prune. A hit over the limit is not counted. It
// returns allowed (1 or 0), remaining, and the seconds left in the window.
var rateLimitScript = redis.NewScript(luaCommon + `
local limit = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local now = servernow()
local start = now - now % period
local left = start + period - now
local k = P .. 'rate:' .. ARGV[2] .. ':' .. start
local hits = tonumber(redis.call('GET', k) or '0')
if hits >= limit then
  return {0, 0, left}
end
hits = redis.call('INCR', k)
if hits == 1 then
  redis.call('EXPIRE', k, left + 1)
end
return {1, limit - hits, left}
`)

// The limiter is Redis's own, not the SQL driver's (driver.RateLimiter).
var _ driver.RateLimiter = (*Driver)(nil)

// RateLimitHit counts a hit in the current fixed window of Period, in
// Redis: with the redis connection, every limiter of the application
// (logins, registrations, rate-limited jobs) lives beside the jobs, and its
// windows expire on their own.
func (d *Driver) RateLimitHit(ctx context.Context, p *driver.RateLimitHitParams) (*driver.RateLimitResult, error) {
	if p.Limit <= 0 {
		return nil, fmt.Errorf("queue: rate limit %s: limit %d: want > 0", p.Key, p.Limit)
	}
	period := max(dbdriver.Seconds(p.Period), 1)
	res, err := rateLimitScript.Run(ctx, d.rdb, d.scriptKeys(), d.prefix, p.Key, p.Limit, period).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("queue: rate limit %s: %w", p.Key, err)
	}
	if len(res) != 3 {
		return nil, fmt.Errorf("queue: rate limit %s: the script returned %d values", p.Key, len(res))
	}
	out := &driver.RateLimitResult{Allowed: res[0] == 1, Remaining: int(res[1])}
	if !out.Allowed {
		out.RetryAfter = time.Duration(res[2]) * time.Second
	}
	return out, nil
}
