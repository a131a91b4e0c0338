package faultbench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
)

// instance is one fresh Tripin database (and, for the Redis backend, a
// queue prefix of its own on a Redis server) that the rows of a backend
// run against, with what the bench needs to read it.
type instance struct {
	o       *Options
	dialect store.Dialect
	dsn     string
	db      *store.DB
	dir     string
	// logDir holds the processes' logs and output (dir, unless the
	// database's directory is a small disk of its own).
	logDir string
	// redisURL, redisPrefix and redisName put the queue on Redis; every
	// connection of the bench's processes carries redisName as its client
	// name, so that only those are killed.
	redisURL, redisPrefix, redisName string
	rdb                              *redis.Client
	// disk reads the disk (or memory) the instance uses; diskWhat says
	// what it measures.
	disk     func(ctx context.Context) (int64, error)
	diskWhat string
	// killer is the connection that kills the others (connkill row).
	killer *sql.DB
	// restart restarts the server, for the restart row.
	restart func(context.Context) error
	closers []func()
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newInstance creates a fresh database for backend in the server at
// serverDSN (SQLite: a file in dir) and, for Redis, a queue prefix on
// redisURL; migrates it with `tripin migrate` and adds the ledger table.
// dataDir, when set, is the data directory of a server the bench started:
// its size is the disk measure.
func newInstance(ctx context.Context, o *Options, backend, serverDSN, redisURL, dir, dataDir string) (*instance, error) {
	in := &instance{o: o, dir: dir, logDir: dir}
	name := randomName("tripin_fault_")
	switch backend {
	case "sqlite", "redis":
		in.dialect, in.dsn = store.SQLite, filepath.Join(dir, "tripin.db")
	case "mysql":
		in.dialect = store.MySQL
		cfg, err := mysql.ParseDSN(serverDSN)
		if err != nil {
			return nil, fmt.Errorf("bench faults: mysql DSN: %w", err)
		}
		if err := adminExec(ctx, "mysql", serverDSN, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
			return nil, err
		}
		in.closers = append(in.closers, func() { _ = adminExec(context.Background(), "mysql", serverDSN, "DROP DATABASE IF EXISTS "+name) })
		cfg.DBName = name
		in.dsn = cfg.FormatDSN()
	case "pgsql":
		in.dialect = store.PgSQL
		if err := adminExec(ctx, "pgx", serverDSN, "CREATE DATABASE "+name); err != nil {
			return nil, err
		}
		in.closers = append(in.closers, func() {
			_ = adminExec(context.Background(), "pgx", serverDSN, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		})
		u, err := url.Parse(serverDSN)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("bench faults: the PostgreSQL DSN must be a postgres:// URL")
		}
		u.Path = "/" + name
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		in.dsn = u.String()
	default:
		return nil, fmt.Errorf("bench faults: unknown backend %q (want sqlite, mysql, pgsql or redis)", backend)
	}
	if backend == "redis" {
		in.redisName = name
		in.redisPrefix = "tripin:fault:" + name[len("tripin_fault_"):] + ":"
		u, err := url.Parse(redisURL)
		if err != nil {
			return nil, fmt.Errorf("bench faults: REDIS_URL: %w", err)
		}
		q := u.Query()
		q.Set("client_name", name)
		u.RawQuery = q.Encode()
		in.redisURL = u.String()
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, fmt.Errorf("bench faults: REDIS_URL: %w", err)
		}
		opts.ClientName = name + "-bench"
		in.rdb = redis.NewClient(opts)
		in.closers = append(in.closers, func() {
			in.deleteRedisKeys(context.Background(), "")
			in.rdb.Close()
		})
	}
	if out, err := in.command(ctx, "migrate", "--force"); err != nil {
		in.close()
		return nil, fmt.Errorf("bench faults: tripin migrate: %v\n%s", err, out)
	}
	db, err := store.Open(ctx, store.OpenParams{Dialect: in.dialect, DSN: in.dsn})
	if err != nil {
		in.close()
		return nil, err
	}
	in.db = db
	in.closers = append(in.closers, func() { db.Close() })
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+LedgerTable+
		" (job_key VARCHAR(64) NOT NULL, pid INTEGER NOT NULL, attempt INTEGER NOT NULL, phase CHAR(1) NOT NULL, at_ms BIGINT NOT NULL)"); err != nil {
		in.close()
		return nil, fmt.Errorf("bench faults: create the ledger: %w", err)
	}
	in.setDisk(dataDir)
	return in, nil
}

func adminExec(ctx context.Context, driver, dsn, stmt string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return fmt.Errorf("bench faults: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("bench faults: %s: %w", stmt, store.RedactError(err, dsn))
	}
	return nil
}

func (in *instance) close() {
	for i := len(in.closers) - 1; i >= 0; i-- {
		in.closers[i]()
	}
	in.closers = nil
}

// setDisk picks the disk measure: the SQLite files, the data directory of
// a server the bench started, or what the shared server reports for the
// bench's database.
func (in *instance) setDisk(dataDir string) {
	sqliteFiles := func() int64 {
		var n int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(in.dsn + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	switch {
	case dataDir != "":
		in.diskWhat = "data dir (server started by the bench)"
		if in.dialect == store.SQLite {
			in.diskWhat = "Redis data dir (server started by the bench) + SQLite db+wal"
		}
		in.disk = func(context.Context) (int64, error) {
			n, err := dirSize(dataDir)
			if in.dialect == store.SQLite {
				n += sqliteFiles()
			}
			return n, err
		}
	case in.rdb != nil:
		in.diskWhat = "Redis used_memory (whole server) + SQLite db+wal"
		in.disk = func(ctx context.Context) (int64, error) {
			info, err := in.rdb.InfoMap(ctx, "memory").Result()
			if err != nil {
				return 0, err
			}
			n, _ := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
			return n + sqliteFiles(), nil
		}
	case in.dialect == store.SQLite:
		in.diskWhat = "SQLite db+wal+shm"
		in.disk = func(context.Context) (int64, error) { return sqliteFiles(), nil }
	case in.dialect == store.PgSQL:
		in.diskWhat = "pg_database_size (shared server)"
		in.disk = func(ctx context.Context) (int64, error) {
			var n int64
			err := in.db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
			return n, err
		}
	default:
		in.diskWhat = "InnoDB tablespace files of the database (shared server)"
		in.disk = func(ctx context.Context) (int64, error) {
			var n int64
			err := in.db.QueryRowContext(ctx,
				"SELECT COALESCE(SUM(FILE_SIZE), 0) FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME LIKE CONCAT(DATABASE(), '/%')").Scan(&n)
			if err != nil {
				err = in.db.QueryRowContext(ctx,
					"SELECT COALESCE(SUM(data_length + index_length + data_free), 0) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n)
			}
			return n, err
		}
	}
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go while the server runs
		}
		if !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

// env is the environment of a tripin process on this instance: the
// bench's own, less every Tripin key, plus the database, the queue and a
// lease of lease seconds.
func (in *instance) env(lease int) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isConfigKey(k) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"APP_ENV=testing", "DB_CONNECTION="+string(in.dialect), "LOG_LEVEL=warn",
		"LOG_FILE="+filepath.Join(in.logDir, "tripin.log"), "MAIL_MAILER=log",
		"DB_QUEUE_RETRY_AFTER="+strconv.Itoa(lease),
		// The load comes from one customer and one address: the fair-use and
		// login limits that protect a real deployment are off, as in the
		// other benchmarks.
		"BOOKING_MAX_PENDING_PER_USER=0", "BOOKING_RATE_LIMIT=0",
		"LOGIN_RATE_LIMIT=0", "LOGIN_IP_RATE_LIMIT=0", "REGISTER_RATE_LIMIT=0",
	)
	if in.redisURL != "" {
		env = append(env, "QUEUE_CONNECTION=redis", "REDIS_URL="+in.redisURL, "REDIS_QUEUE_PREFIX="+in.redisPrefix)
	} else {
		env = append(env, "QUEUE_CONNECTION=database")
	}
	if in.dialect == store.SQLite {
		return append(env, "DB_DATABASE="+in.dsn)
	}
	return append(env, "DB_URL="+in.dsn)
}

func isConfigKey(k string) bool {
	for _, c := range config.Keys {
		if c == k {
			return true
		}
	}
	return false
}

// command runs a short tripin command and returns its output.
func (in *instance) command(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.o.Bin, args...)
	cmd.Dir, cmd.Env = in.dir, in.env(90)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// depth is the number of jobs the queue still holds (waiting, delayed or
// reserved).
func (in *instance) depth(ctx context.Context) (int, error) {
	if in.rdb == nil {
		var n int
		err := in.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs").Scan(&n)
		return n, err
	}
	n := 0
	iter := in.rdb.Scan(ctx, 0, in.redisPrefix+"job:*", 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n, iter.Err()
}

// reset empties the ledger, failed_jobs and the queue between rows.
func (in *instance) reset(ctx context.Context) error {
	stmts := []string{"DELETE FROM " + LedgerTable, "DELETE FROM failed_jobs"}
	if in.rdb == nil {
		stmts = append(stmts, "DELETE FROM jobs")
	} else {
		in.deleteRedisKeys(ctx, "")
	}
	for _, q := range stmts {
		if _, err := in.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("bench faults: reset: %s: %w", q, err)
		}
	}
	return nil
}

// deleteRedisKeys removes every key of the instance's prefix (plus sub).
func (in *instance) deleteRedisKeys(ctx context.Context, sub string) {
	iter := in.rdb.Scan(ctx, 0, in.redisPrefix+sub+"*", 1000).Iterator()
	for iter.Next(ctx) {
		in.rdb.Del(ctx, iter.Val())
	}
}
