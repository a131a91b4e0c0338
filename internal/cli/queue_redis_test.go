package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
)

// redisTestURL returns TRIPIN_TEST_REDIS_URL; without it the test skips,
// except under CI, where the Redis connection must be exercised.
func redisTestURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TRIPIN_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TRIPIN_TEST_REDIS_URL is not set; CI runs the redis connection's tests")
		}
		t.Skip("TRIPIN_TEST_REDIS_URL not set")
	}
	return url
}

// redisTestPrefix returns the test Redis URL, a random key prefix for the
// test's jobs, and a client on that server that deletes every key under the
// prefix when the test ends.
func redisTestPrefix(t *testing.T) (url, prefix string, rdb *redis.Client) {
	t.Helper()
	url = redisTestURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix = "tripin:test:" + hex.EncodeToString(b) + ":"
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb = redis.NewClient(opts)
	t.Cleanup(func() {
		if keys := redisKeys(t, rdb, prefix); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		rdb.Close()
	})
	return url, prefix, rdb
}

// redisKeys lists the keys under prefix.
func redisKeys(t *testing.T, rdb *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := rdb.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}

// The commands on QUEUE_CONNECTION=redis: pushed jobs land in Redis under
// REDIS_QUEUE_PREFIX (not in the jobs table), `queue stats` counts them
// there, `queue work` runs them, a job that fails for good goes to the
// database's failed_jobs, and `queue retry` puts it back into Redis.
func TestQueueCommandsOnRedis(t *testing.T) {
	url, prefix, rdb := redisTestPrefix(t)

	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{
		"QUEUE_CONNECTION": "redis", "REDIS_URL": url, "REDIS_QUEUE_PREFIX": prefix,
	})
	ctx := context.Background()
	run := func(args ...string) string {
		t.Helper()
		env, out := newEnv()
		require.NoError(t, Run(ctx, env, args), out.String())
		return out.String()
	}

	run("queue", "push", "noop", "--count", "3")
	run("queue", "push", "fail", "--queue", "emails", "--tries", "1")
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "the jobs are in Redis")
	require.NotEmpty(t, redisKeys(t, rdb, prefix))

	var stats []queueStatJSON
	require.NoError(t, json.Unmarshal([]byte(run("queue", "stats", "--json")), &stats))
	sizes := map[string]int{}
	for _, s := range stats {
		require.Equal(t, "redis", s.Connection)
		sizes[s.Queue] = s.Pending
	}
	require.Equal(t, map[string]int{"default": 3, "emails": 1}, sizes)

	run("queue", "work", "--queue", "default,emails", "--stop-when-empty", "--quiet")
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs WHERE queue = 'emails'"))
	require.NoError(t, json.Unmarshal([]byte(run("queue", "stats", "--json")), &stats))
	for _, s := range stats {
		require.Zero(t, s.Size, "queue %s drained", s.Queue)
	}

	run("queue", "retry", "all")
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs"))
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "retried into Redis, not the jobs table")
	require.NoError(t, json.Unmarshal([]byte(run("queue", "stats", "--json")), &stats))
	for _, s := range stats {
		if s.Queue == "emails" {
			require.Equal(t, 1, s.Pending)
		}
	}
}
