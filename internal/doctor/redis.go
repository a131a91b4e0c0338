package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver/tripinredis"
)

// checkRedis reads the settings of the redis queue connection's server
// (never changing them): a maxmemory-policy other than noeviction, no
// persistence, or settings that cannot be read are problems. It is
// skipped unless QUEUE_CONNECTION=redis.
func checkRedis(ctx context.Context, p *Params) Result {
	cfg := p.Config
	if cfg == nil {
		return skipped("no configuration")
	}
	if cfg.QueueConnection != "redis" {
		return skipped("QUEUE_CONNECTION=%s keeps no jobs in Redis", cfg.QueueConnection)
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return problemf("REDIS_URL: %s", p.scrub(err.Error()))
	}
	// One attempt: a server that is down is the answer, not a reason to
	// retry.
	opt.MaxRetries, opt.DialerRetries = -1, 1
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return problemf("cannot connect to Redis at %s: %s", opt.Addr, p.scrub(err.Error()))
	}
	check, err := tripinredis.CheckServer(ctx, rdb)
	if lines := RedisProblems(check, err); len(lines) > 0 {
		for i := range lines {
			lines[i] = p.scrub(lines[i])
		}
		return problems(lines...)
	}
	return ok("Redis at %s: maxmemory-policy noeviction, persistence %s", opt.Addr, check.Persistence)
}

// RedisProblems turns what tripinredis.CheckServer returned into lines: its
// refusal of an evicting maxmemory-policy, and each warning (no
// persistence, a setting that could not be read), which the queue only
// logs but a deployment should not have.
func RedisProblems(check *tripinredis.ServerCheck, err error) []string {
	var pe *tripinredis.PolicyError
	switch {
	case errors.As(err, &pe):
		return []string{strings.TrimPrefix(pe.Error(), "redis: ")}
	case err != nil:
		return []string{fmt.Sprintf("cannot read the Redis settings: %v", err)}
	case check == nil:
		return nil
	}
	var out []string
	for _, w := range check.Warnings {
		out = append(out, strings.TrimPrefix(w, "redis: "))
	}
	return out
}
