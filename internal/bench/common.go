// Package bench holds the load generators behind `tripin bench queue`,
// `bench booking`, `bench prune` and `bench wal`: each creates a fresh
// database (or runs a fresh `tripin serve`), puts load on it, and prints
// what it measured as text or as one JSON line. The fault matrix behind
// `bench faults` is package faultbench.
package bench

import (
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

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
