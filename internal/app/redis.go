package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/telemetry"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinredis"
)

// RedisOptions tune OpenRedisDriver.
type RedisOptions struct {
	// Logger receives the driver's logs and the server's warnings; nil
	// discards them.
	Logger *slog.Logger
	// Warnings, when set, also shows the server's warnings (no
	// persistence, settings that could not be read): `queue work` and
	// serve print them at start.
	Warnings io.Writer
	// Metrics, when set, counts the jobs this process finds lost.
	Metrics *telemetry.Metrics
}

// OpenRedisDriver returns the redis connection's driver: jobs in Redis at
// REDIS_URL, standing on sqlDriver, the database driver of db, for failed
// jobs, batches, pauses and the outbox of InsertTx. The returned function
// closes the driver (its outbox relay) and then its Redis client.
func OpenRedisDriver(ctx context.Context, cfg *config.Config, db *store.DB, sqlDriver driver.Driver, o RedisOptions) (*tripinredis.Driver, func(), error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d, rdb, check, err := NewRedisDriver(ctx, cfg.RedisURL, cfg.RedisQueuePrefix, db, sqlDriver, logger)
	if err != nil {
		return nil, nil, err
	}
	if o.Warnings != nil {
		for _, w := range check.Warnings {
			fmt.Fprintln(o.Warnings, "tripin: warning: "+w)
		}
	}
	if o.Metrics != nil {
		// The jobs this process finds lost (ids queued without their
		// data) are counted on /metrics beside the worker's other
		// counters.
		lost := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tripin", Subsystem: "queue", Name: "redis_lost_jobs_total",
			Help: "Jobs this process found lost from Redis: their ids were still queued but their data was missing (evicted or deleted). Each is logged at error level and recorded in failed_jobs.",
		}, func() float64 { return float64(d.LostJobs()) })
		if err := o.Metrics.Registry().Register(lost); err != nil {
			// A second redis connection in one process: the first one's
			// counter stays.
			logger.Debug("queue: register the lost-jobs counter", "error", err)
		}
	}
	// The relay stops before its client closes.
	return d, func() { d.Close(); rdb.Close() }, nil
}

// NewRedisDriver connects to the Redis at url, checks its settings (see
// tripinredis.CheckServer: a maxmemory-policy other than noeviction is
// refused, missing persistence is logged as a warning) and returns the
// redis driver over it and sqlDriver, its keys starting with prefix, the
// client, which the caller closes after the driver, and the check.
func NewRedisDriver(ctx context.Context, url, prefix string, db *store.DB, sqlDriver driver.Driver, logger *slog.Logger) (*tripinredis.Driver, *redis.Client, *tripinredis.ServerCheck, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sd, ok := sqlDriver.(tripinredis.SQLDriver)
	if !ok {
		return nil, nil, nil, fmt.Errorf("queue: the %s queue driver has no failed-job storage for the redis connection", db.Dialect)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("queue: REDIS_URL: %w", store.RedactError(err, url))
	}
	rdb := redis.NewClient(opt)
	// A server that is down is reported now, once, rather than by every
	// claim of every worker.
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, nil, nil, fmt.Errorf("queue: connect to redis at %s: %w", opt.Addr, store.RedactError(err, url))
	}
	check, err := tripinredis.CheckServer(pingCtx, rdb)
	if err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	for _, w := range check.Warnings {
		logger.Warn(w, "addr", opt.Addr, "persistence", check.Persistence, "read_with", check.Source)
	}
	d, err := tripinredis.New(rdb, tripinredis.Options{Prefix: prefix, DB: db.DB, SQL: sd, Logger: logger})
	if err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	return d, rdb, check, nil
}
