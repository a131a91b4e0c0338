package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinredis"
)

// benchRedisPrefix returns a fresh key prefix for one measurement, so that
// it starts from an empty queue on a server other work may share.
func benchRedisPrefix() string {
	return fmt.Sprintf("tripin:bench:%016x:", rand.Uint64())
}

// newBenchRedisDriver returns a Redis driver under prefix on a Redis
// client of its own, standing on the SQLite queue driver of db; a second
// one on the same prefix plays another process. closeDriver stops the
// driver's outbox relay, then closes its client.
func newBenchRedisDriver(ctx context.Context, url, prefix string, db *store.DB) (d driver.Driver, closeDriver func(), err error) {
	sqlDriver, err := app.QueueDriver(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	sd, ok := sqlDriver.(tripinredis.SQLDriver)
	if !ok {
		return nil, nil, fmt.Errorf("the %s queue driver has no failed-job storage for the redis driver", db.Dialect)
	}
	rdb, err := benchRedisClient(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	rd, err := tripinredis.New(rdb, tripinredis.Options{Prefix: prefix, DB: db.DB, SQL: sd})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return rd, func() { rd.Close(); rdb.Close() }, nil
}

// benchRedisClient connects to the Redis at url, reporting a server that
// is down now rather than through the first claim.
func benchRedisClient(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", store.RedactError(err, url))
	}
	rdb := redis.NewClient(opt)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", opt.Addr, store.RedactError(err, url))
	}
	return rdb, nil
}

// checkDrainedRedis fails unless Redis holds no waiting, delayed or
// running job and no job hash under the driver's prefix (scanned on a
// client of its own at url), and no job failed (failed_jobs, in SQL).
func checkDrainedRedis(ctx context.Context, d driver.Driver, url string, want int) error {
	rd, ok := d.(*tripinredis.Driver)
	if !ok {
		return errors.New("the redis backend's driver is not the Redis driver")
	}
	stats, err := rd.QueueStats(ctx, &driver.QueueStatsParams{})
	if err != nil {
		return err
	}
	var left, failed int
	for _, s := range stats {
		left += s.Size()
		failed += s.Failed
	}
	rdb, err := benchRedisClient(ctx, url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// Counted, not collected: with a backlog of millions a list of the
	// keys would weigh on the process's memory, which is measured.
	hashes := 0
	iter := rdb.Scan(ctx, 0, rd.Prefix()+"job:*", 1000).Iterator()
	for iter.Next(ctx) {
		hashes++
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if left != want || failed != 0 || hashes != want {
		return fmt.Errorf("after the drain %d jobs are left in the queues and %d job hashes in Redis (want %d each), and %d failed", left, hashes, want, failed)
	}
	return nil
}

// deleteBenchRedisKeys deletes every key under prefix, on a client of its
// own, as the drop of a benchmark database does; errors are ignored. The
// keys are unlinked as the scan finds them, so that a backlog of millions
// is neither held in memory nor cut short by the time limit, which
// allows for about 100,000 keys a second.
func deleteBenchRedisKeys(url, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rdb, err := benchRedisClient(ctx, url)
	if err != nil {
		return
	}
	defer rdb.Close()
	batch := make([]string, 0, 1000)
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
			if rdb.Unlink(ctx, batch...).Err() != nil {
				return
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_ = rdb.Unlink(ctx, batch...).Err()
	}
}
