// Package bench holds the load generators behind `tripin bench queue`,
// `bench booking`, `bench prune` and `bench wal`: each creates a fresh
// database (or runs a fresh `tripin serve`), puts load on it, and prints
// what it measured as text or as one JSON line. The fault matrix behind
// `bench faults` is package faultbench.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tripintravel/tripin/internal/store"
)

// The servers a benchmark uses when none is named: the local defaults of
// the test servers.
const (
	DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"
	DefaultPgSQLDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL = "redis://127.0.0.1:6379/0"
)

// ServerDSN returns dsn, else the test server of dialect d the
// environment names (TRIPIN_TEST_MYSQL_DSN, TRIPIN_TEST_PGSQL_DSN), else
// its local default. For SQLite it returns dsn.
func ServerDSN(d store.Dialect, dsn string) string {
	switch d {
	case store.MySQL:
		return firstNonEmpty(dsn, os.Getenv("TRIPIN_TEST_MYSQL_DSN"), DefaultMySQLDSN)
	case store.PgSQL:
		return firstNonEmpty(dsn, os.Getenv("TRIPIN_TEST_PGSQL_DSN"), DefaultPgSQLDSN)
	}
	return dsn
}

// RedisURL returns the first of urls that is not empty, else
// DefaultRedisURL.
func RedisURL(urls ...string) string {
	return firstNonEmpty(append(urls, DefaultRedisURL)...)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// median returns the median of v (the mean of the middle two for an even
// count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// percentileMS returns the q-th percentile of sorted durations in
// milliseconds (nearest rank).
func percentileMS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

// round2 rounds f to two decimals, as the results print them.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

// hostLoadAvg returns the first three fields of /proc/loadavg, or "" where
// there is none.
func hostLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// freeLoopbackAddr picks a port on 127.0.0.1 that nothing listens on.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench wal: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// freshDB creates a fresh, migrated database for one measurement: a file
// in a new temporary directory under where ("" for the system's) for
// SQLite, or tripin_bench_<random> on the server of the DSN where for
// MySQL and PostgreSQL. conns caps its pool (0: the dialect's default).
// It returns the database, its DSN for a second pool, and drop, which
// closes and removes it.
func freshDB(ctx context.Context, d store.Dialect, where string, conns int) (db *store.DB, dsn string, drop func(), err error) {
	name := fmt.Sprintf("tripin_bench_%d", rand.Uint32())
	switch d {
	case store.SQLite:
		dir, err := os.MkdirTemp(where, "tripin-bench-")
		if err != nil {
			return nil, "", nil, err
		}
		dsn = filepath.Join(dir, "tripin.db")
		drop = func() { os.RemoveAll(dir) }
	case store.MySQL, store.PgSQL:
		admin, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: where, MaxOpenConns: 1})
		if err != nil {
			return nil, "", nil, err
		}
		defer admin.Close()
		create := "CREATE DATABASE " + name
		if d == store.MySQL {
			create += " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
		}
		if _, err := admin.ExecContext(ctx, create); err != nil {
			return nil, "", nil, fmt.Errorf("create database: %w", err)
		}
		drop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admin, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: where, MaxOpenConns: 1})
			if err != nil {
				return
			}
			defer admin.Close()
			q := "DROP DATABASE IF EXISTS " + name
			if d == store.PgSQL {
				q += " WITH (FORCE)"
			}
			_, _ = admin.ExecContext(ctx, q)
		}
		if dsn, err = withDatabase(d, where, name); err != nil {
			drop()
			return nil, "", nil, err
		}
	default:
		return nil, "", nil, fmt.Errorf("the backend must be sqlite, mysql or pgsql, not %q", d)
	}
	db, err = store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn, MaxOpenConns: conns})
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		drop()
		return nil, "", nil, fmt.Errorf("migrate: %w", err)
	}
	dropDB := drop
	return db, dsn, func() { db.Close(); dropDB() }, nil
}

// withDatabase returns dsn pointed at database name instead.
func withDatabase(d store.Dialect, dsn, name string) (string, error) {
	if i := strings.Index(dsn, "://"); i > 0 {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("the DSN is not a valid URL")
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	if d == store.MySQL {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", fmt.Errorf("invalid DSN: %w", store.RedactError(err, dsn))
		}
		cfg.DBName = name
		return cfg.FormatDSN(), nil
	}
	var parts []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "dbname=") {
			parts = append(parts, f)
		}
	}
	return strings.Join(append(parts, "dbname="+name), " "), nil
}
