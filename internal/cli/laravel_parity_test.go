package cli

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestRedisQueueFromLaravelParts: with REDIS_HOST, REDIS_PORT,
// REDIS_PASSWORD and REDIS_DB instead of REDIS_URL, the commands reach the
// same server and database.
func TestRedisQueueFromLaravelParts(t *testing.T) {
	url, prefix, rdb := redisTestPrefix(t)
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(opts.Addr)
	require.NoError(t, err)
	// Another database than the test URL's, so that REDIS_DB is seen to
	// be obeyed; its keys under prefix are deleted at the end too.
	other := *opts
	other.DB = (opts.DB + 1) % 16
	otherDB := redis.NewClient(&other)
	t.Cleanup(func() {
		if keys := redisKeys(t, otherDB, prefix); len(keys) > 0 {
			otherDB.Del(context.Background(), keys...)
		}
		otherDB.Close()
	})
	vals := map[string]string{
		"QUEUE_CONNECTION": "redis", "REDIS_QUEUE_PREFIX": prefix,
		"REDIS_HOST": host, "REDIS_PORT": port, "REDIS_DB": strconv.Itoa(other.DB), "REDIS_PASSWORD": opts.Password,
	}
	if opts.Password == "" {
		vals["REDIS_PASSWORD"] = "null" // as Laravel's .env spells no password
	}
	newEnv, db := queueTestEnv(t, store.SQLite, vals)
	ctx := context.Background()
	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "push", "noop", "--count", "2"}), out.String())
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "the jobs are in Redis")
	require.NotEmpty(t, redisKeys(t, otherDB, prefix), "in the database REDIS_DB names")
	require.Empty(t, redisKeys(t, rdb, prefix), "not in the test URL's database")

	env, out = newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "stats", "--json"}), out.String())
	var stats []queueStatJSON
	require.NoError(t, json.Unmarshal([]byte(out.String()), &stats))
	pending := map[string]int{}
	for _, s := range stats {
		require.Equal(t, "redis", s.Connection)
		pending[s.Queue] = s.Pending
	}
	require.Equal(t, 2, pending["default"])
}

// TestMariaDBConnection: DB_CONNECTION=mariadb, as Laravel 11 writes it,
// runs on the MySQL dialect against a real MariaDB/MySQL server, with the
// DSN built from the DB_* parts.
func TestMariaDBConnection(t *testing.T) {
	dsn := storetest.NewDSN(t, store.MySQL) // skips without TRIPIN_TEST_MYSQL_DSN
	c, err := mysqldriver.ParseDSN(dsn)
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(c.Addr)
	require.NoError(t, err)
	cfg, err := config.FromMap(map[string]string{
		"DB_CONNECTION": "mariadb", "DB_HOST": host, "DB_PORT": port, "DB_DATABASE": c.DBName,
		"DB_USERNAME": c.User, "DB_PASSWORD": c.Passwd, "LOG_FILE": filepath.Join(t.TempDir(), "tripin.log"),
	})
	require.NoError(t, err)
	d, _ := app.DSN(cfg)
	require.Equal(t, store.MySQL, d)
	out := &lockedBuffer{}
	env := &Env{Stdout: out, Stderr: out, Cfg: cfg}
	defer env.closeAll()
	require.NoError(t, Run(context.Background(), env, []string{"migrate"}), out.String())
	db, err := env.OpenDB(context.Background())
	require.NoError(t, err)
	require.Equal(t, store.MySQL, db.Dialect)
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "the queue's tables exist")
}
