package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver/tripinredis/redistest"
)

// TestRedisServerCheckedAtStart starts redis-server processes of its own.
// One whose maxmemory-policy evicts is refused by every command that opens
// the redis connection, worker, producer and scheduler, with one line
// naming the setting. One without persistence is accepted with a warning
// that `queue work` prints on stderr and logs, and that a producer's
// output does not carry; a persistent one gives no warning.
func TestRedisServerCheckedAtStart(t *testing.T) {
	ctx := context.Background()
	evicting := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
	newEnv, _ := queueTestEnv(t, store.SQLite, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": evicting.URL()})
	for _, args := range [][]string{
		{"queue", "work", "--stop-when-empty", "--quiet"},
		{"queue", "push", "noop"},
		{"schedule", "run", "--time", "2026-11-27T10:05:00+07:00"},
	} {
		env, _ := newEnv()
		err := Run(ctx, env, args)
		var printed bytes.Buffer
		require.Equal(t, 1, exitCode(&printed, err), "%v: %v", args, err)
		require.Equal(t, "tripin: redis: maxmemory-policy is allkeys-lru; the queue needs noeviction, or jobs are evicted silently: "+
			"run CONFIG SET maxmemory-policy noeviction, and set it in redis.conf\n", printed.String(), args)
	}
	keys, err := evicting.Client().DBSize(ctx).Result()
	require.NoError(t, err)
	require.Zero(t, keys, "a refused server is not written to")

	bare := redistest.Start(t, "--maxmemory-policy", "noeviction", "--save", "", "--appendonly", "no")
	newEnv, _ = queueTestEnv(t, store.SQLite, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": bare.URL()})
	const warning = `tripin: warning: redis: neither AOF (appendonly no) nor RDB snapshots (save "") are on: ` +
		"a restart of Redis loses every job it holds; run CONFIG SET appendonly yes, and set it in redis.conf\n"
	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "push", "noop"}), out.String())
	require.NotContains(t, out.String(), "warning", "a producer's output stays clean")
	env, out = newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "work", "--stop-when-empty", "--quiet"}), out.String())
	require.Equal(t, 1, strings.Count(out.String(), warning), out.String())
	log, err := os.ReadFile(env.Cfg.LogFile)
	require.NoError(t, err)
	require.Contains(t, string(log), `"level":"WARN","msg":"redis: neither AOF (appendonly no) nor RDB snapshots`)
	n, err := bare.Client().DBSize(ctx).Result()
	require.NoError(t, err)
	require.NotZero(t, n, "the accepted server got the job")

	persistent := redistest.Start(t, "--appendonly", "yes")
	newEnv, _ = queueTestEnv(t, store.SQLite, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": persistent.URL()})
	env, out = newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "work", "--stop-when-empty", "--quiet"}), out.String())
	require.NotContains(t, out.String(), "warning")
}

// TestScheduleOverlapOnRedis runs `schedule run` on given ticks with the
// jobs in Redis: the expiry sweep (WithoutOverlapping) is not dispatched
// again while its job waits in the outbox, nor while it is in Redis, and
// is dispatched on the first due tick after a worker finished it.
func TestScheduleOverlapOnRedis(t *testing.T) {
	url, prefix, _ := redisTestPrefix(t)
	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{
		"QUEUE_CONNECTION": "redis", "REDIS_URL": url, "REDIS_QUEUE_PREFIX": prefix,
	})
	ctx := context.Background()
	tick := func(at string) scheduleRunLine {
		t.Helper()
		env, out := newEnv()
		require.NoError(t, Run(ctx, env, []string{"schedule", "run", "--json", "--time", at}), out.String())
		var lines []scheduleRunLine
		require.NoError(t, json.Unmarshal(out.Bytes(), &lines), out.String())
		require.Len(t, lines, 1, out.String())
		require.Equal(t, expireUnpaidBookingsEvent, lines[0].Event)
		return lines[0]
	}

	first := tick("2026-11-27T10:05:00+07:00")
	require.Equal(t, "dispatched", first.Outcome)
	// The job and the lock naming it committed together, the job through
	// the outbox.
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM jobs WHERE reserved_by = 'redis:"+strconv.FormatInt(first.JobID, 10)+"'"))
	require.Equal(t, "overlapping", tick("2026-11-27T10:10:00+07:00").Outcome, "its job waits in the outbox")

	sqlDriver, err := app.QueueDriver(ctx, db)
	require.NoError(t, err)
	rd, rc, _, err := app.NewRedisDriver(ctx, url, prefix, db, sqlDriver, nil)
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close(); rc.Close() })
	moved, err := rd.RelayOutbox(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, moved)
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"))
	require.Equal(t, "overlapping", tick("2026-11-27T10:15:00+07:00").Outcome, "its job is in Redis")

	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "work", "--stop-when-empty", "--quiet"}), out.String())
	exists, err := rd.JobExists(ctx, first.JobID)
	require.NoError(t, err)
	require.False(t, exists, "the worker finished the sweep")
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs"), "the sweep succeeded")
	again := tick("2026-11-27T10:20:00+07:00")
	require.Equal(t, "dispatched", again.Outcome, "the first tick after the job finished dispatches it again")
	require.Greater(t, again.JobID, first.JobID)
}

// TestLostJobCountedOnRedis deletes a job's hash behind the queue's back:
// `queue work` records the job in failed_jobs, with its queue and what
// happened, and counts it on its /metrics registry.
func TestLostJobCountedOnRedis(t *testing.T) {
	url, prefix, rdb := redisTestPrefix(t)
	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{
		"QUEUE_CONNECTION": "redis", "REDIS_URL": url, "REDIS_QUEUE_PREFIX": prefix,
	})
	ctx := context.Background()
	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "push", "noop", "--count", "2", "--queue", "emails"}), out.String())
	hashes := redisKeys(t, rdb, prefix+"job:")
	require.Len(t, hashes, 2)
	require.NoError(t, rdb.Del(ctx, hashes[0]).Err())

	env, out = newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "work", "--queue", "emails", "--stop-when-empty", "--quiet"}), out.String())
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs WHERE queue = 'emails' AND connection = 'redis' "+
		"AND exception LIKE '%the job''s data was missing from Redis (evicted or deleted)%'"))
	require.Empty(t, redisKeys(t, rdb, prefix+"job:"), "the other job ran")
	families, err := env.Metrics(nil).Registry().Gather()
	require.NoError(t, err)
	var lost float64 = -1
	for _, f := range families {
		if f.GetName() == "tripin_queue_redis_lost_jobs_total" {
			lost = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	require.Equal(t, 1.0, lost, "the lost job is counted on /metrics")
}
