package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestJobErrorsAreScrubbed: a job whose error quotes the configured
// secrets (SMTP password, Midtrans server key, APP_KEY) or a URL with a
// password leaves none of them in jobs.last_error or
// failed_jobs.exception, on every database and on Redis.
func TestJobErrorsAreScrubbed(t *testing.T) {
	const (
		mailPassword = "smtp-pw-Zq81x"
		serverKey    = "SB-Mid-server-scrub-me-42"
		appKey       = "base64:c2NydWIgdGVzdCBrZXkgb2YgMzIgYnl0ZXMhISEhISE="
		dbURL        = "postgres://tripin:pg-pw-Hk27c@db.internal:5432/tripin"
		redisURL     = "redis://:redis-pw-Lm93v@cache.internal:6379/0"
	)
	leaks := []string{mailPassword, serverKey, appKey, "pg-pw-Hk27c", "redis-pw-Lm93v"}
	message := "upstream said: auth " + mailPassword + " / key " + serverKey + " / app " + appKey +
		" / dial " + dbURL + " / cache " + redisURL
	secrets := map[string]string{"MAIL_PASSWORD": mailPassword, "MIDTRANS_SERVER_KEY": serverKey, "APP_KEY": appKey}

	type conn struct{ name, queue string }
	var conns []conn
	for _, d := range storetest.Dialects() {
		conns = append(conns, conn{string(d), "database"})
	}
	conns = append(conns, conn{"sqlite", "redis"})
	for _, c := range conns {
		t.Run(c.name+"/"+c.queue, func(t *testing.T) {
			extra := map[string]string{}
			for k, v := range secrets {
				extra[k] = v
			}
			var rdb *redis.Client
			prefix := ""
			if c.queue == "redis" {
				url := redisTestURL(t)
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
				extra["QUEUE_CONNECTION"], extra["REDIS_URL"], extra["REDIS_QUEUE_PREFIX"] = "redis", url, prefix
			}
			newEnv, db := queueTestEnv(t, store.Dialect(c.name), extra)
			ctx := context.Background()
			run := func(args ...string) string {
				t.Helper()
				env, out := newEnv()
				require.NoError(t, Run(ctx, env, args), out.String())
				return out.String()
			}
			args, err := json.Marshal(map[string]string{"message": message})
			require.NoError(t, err)
			// One job that will retry (its error goes to last_error) and
			// one that fails for good (failed_jobs.exception).
			run("queue", "push", "fail", "--args", string(args), "--tries", "5")
			run("queue", "push", "fail", "--args", string(args), "--tries", "1", "--queue", "emails")
			run("queue", "work", "--queue", "default,emails", "--stop-when-empty", "--quiet")

			var lastErrors []string
			if c.queue == "redis" {
				for _, k := range redisKeys(t, rdb, prefix) {
					if rdb.Type(ctx, k).Val() != "hash" {
						continue
					}
					if v, err := rdb.HGet(ctx, k, "last_error").Result(); err == nil {
						lastErrors = append(lastErrors, v)
					}
				}
			} else {
				rows, err := db.QueryContext(ctx, "SELECT last_error FROM jobs WHERE last_error IS NOT NULL")
				require.NoError(t, err)
				for rows.Next() {
					var s string
					require.NoError(t, rows.Scan(&s))
					lastErrors = append(lastErrors, s)
				}
				require.NoError(t, rows.Err())
				rows.Close()
			}
			require.Len(t, lastErrors, 1, "the retried job's error is stored")
			var exception string
			require.NoError(t, db.QueryRowContext(ctx, "SELECT exception FROM failed_jobs").Scan(&exception))

			for _, stored := range append(lastErrors, exception) {
				require.Contains(t, stored, "upstream said: auth ********", "the error is kept, scrubbed")
				require.Contains(t, stored, "postgres://tripin:********@db.internal:5432/tripin")
				require.Contains(t, stored, "redis://:********@cache.internal:6379/0")
				for _, leak := range leaks {
					require.NotContains(t, stored, leak)
				}
			}
		})
	}
}
