package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinredis"
	"github.com/tripintravel/tripin/internal/store"
)

// redisQueueDriver returns the redis connection's driver: jobs in Redis at
// REDIS_URL, standing on sqlDriver, the database driver of db, for failed
// jobs, batches, pauses and the outbox of InsertTx. The Redis client and
// the driver's outbox relay are closed when the command returns.
func redisQueueDriver(ctx context.Context, env *Env, db *store.DB, sqlDriver driver.Driver, logger *slog.Logger) (*tripinredis.Driver, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	d, rdb, err := newRedisDriver(ctx, cfg.RedisURL, cfg.RedisQueuePrefix, db, sqlDriver, logger)
	if err != nil {
		return nil, err
	}
	// Closers run last first: the relay stops before its client closes.
	env.onClose(func() { rdb.Close() })
	env.onClose(func() { d.Close() })
	return d, nil
}

// newRedisDriver connects to the Redis at url and returns the redis
// driver over it and sqlDriver, its keys starting with prefix, and the client, which the caller closes
// after the driver.
func newRedisDriver(ctx context.Context, url, prefix string, db *store.DB, sqlDriver driver.Driver, logger *slog.Logger) (*tripinredis.Driver, *redis.Client, error) {
	sd, ok := sqlDriver.(tripinredis.SQLDriver)
	if !ok {
		return nil, nil, fmt.Errorf("queue: the %s queue driver has no failed-job storage for the redis connection", db.Dialect)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("queue: REDIS_URL: %w", store.RedactError(err, url))
	}
	rdb := redis.NewClient(opt)
	// A server that is down is reported now, once, rather than by every
	// claim of every worker.
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("queue: connect to redis at %s: %w", opt.Addr, store.RedactError(err, url))
	}
	d, err := tripinredis.New(rdb, tripinredis.Options{Prefix: prefix, DB: db, SQL: sd, Logger: logger})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return d, rdb, nil
}
