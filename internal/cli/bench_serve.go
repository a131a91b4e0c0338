package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/store"
)

// benchServeCommands are the commands of this file; root.go lists every file's.
var benchServeCommands = []*Command{
	{
		Name: "bench serve", Aliases: []string{"bench:serve"},
		Usage: "[--backend sqlite,mysql,pgsql] [--mysql-dsn DSN] [--pgsql-dsn DSN] [--queue database|redis] [--redis-url URL] [--rate N] [--concurrency N] [--duration D]\n" +
			"       [--drain D] [--sample D] [--tours N] [--users N] [--mailer smtp|log] [--compare] [--no-worker] [--worker-concurrency N] [--cpuprofile-dir DIR] [--svg FILE] [--server BINARY] [--keep] [--json]",
		Summary: "run `tripin serve` on a fresh database of each backend and load POST /api/bookings from an independent load generator",
		Run:     runBenchServe,
	},
}

func runBenchServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench serve")
	var (
		o        bench.ServeOptions
		backends string
	)
	fs.StringVar(&backends, "backend", "sqlite", "comma-separated backends: sqlite, mysql, pgsql")
	fs.StringVar(&o.MySQLDSN, "mysql-dsn", "", "MariaDB/MySQL server to create the database on (default TRIPIN_TEST_MYSQL_DSN, then the local one)")
	fs.StringVar(&o.PgSQLDSN, "pgsql-dsn", "", "PostgreSQL server to create the database on (default TRIPIN_TEST_PGSQL_DSN, then the local one)")
	fs.StringVar(&o.Queue, "queue", "database", "serve's QUEUE_CONNECTION: database, or redis (under a key prefix of the run's own, deleted afterwards)")
	fs.StringVar(&o.RedisURL, "redis-url", "", "the Redis server of --queue redis (default TRIPIN_TEST_REDIS_URL, then the local one)")
	fs.IntVar(&o.Rate, "rate", 0, "booking requests per second (0: as fast as the connections allow)")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "connections (and at most as many requests in flight)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long the load lasts")
	fs.DurationVar(&o.Drain, "drain", 2*time.Minute, "how long to wait after the load for the email queue to empty")
	fs.DurationVar(&o.Sample, "sample", 500*time.Millisecond, "how often to read the email queue's lag")
	fs.IntVar(&o.Tours, "tours", 64, "tours to spread the bookings over")
	fs.IntVar(&o.Users, "users", 256, "customers with their own tokens")
	fs.StringVar(&o.Mailer, "mailer", "smtp", "smtp (a real SMTP server the bench runs, counting the invoices) or log (serve's log mailer)")
	fs.BoolVar(&o.Compare, "compare", false, "also run bench booking (the handler alone) on each backend and print serve's share of its rate")
	fs.BoolVar(&o.NoWorker, "no-worker", false, "run serve --no-worker: the API alone, its email jobs left waiting (splits serve's cost between the API and its worker)")
	fs.IntVar(&o.WorkerConcurrency, "worker-concurrency", 0, "pass --worker-concurrency N to serve (0: serve's default)")
	fs.StringVar(&o.CPUProfileDir, "cpuprofile-dir", "", "write serve's CPU profile of each backend into this directory (serve-BACKEND.pprof)")
	fs.StringVar(&o.SVG, "svg", "", "draw every backend's email lag over time into this SVG file")
	fs.StringVar(&o.Server, "server", "", "the tripin binary to run as the server (default: this one)")
	fs.BoolVar(&o.Keep, "keep", false, "keep each run's directory (database, logs, server output)")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON line per backend")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("bench serve: unexpected argument %q", rest[0])
	}
	if o.Concurrency < 1 || o.Tours < 1 || o.Users < 1 || o.Duration <= 0 || o.Sample <= 0 || o.Drain < 0 || o.Rate < 0 || o.WorkerConcurrency < 0 {
		return usagef("bench serve: --concurrency, --tours, --users, --duration and --sample must be positive, --rate and --drain not negative")
	}
	if o.Queue != "database" && o.Queue != "redis" {
		return usagef("bench serve: --queue must be database or redis")
	}
	o.RedisURL = bench.RedisURL(o.RedisURL, os.Getenv("TRIPIN_TEST_REDIS_URL"))
	if o.Mailer != "smtp" && o.Mailer != "log" {
		return usagef("bench serve: --mailer must be smtp or log")
	}
	for _, b := range strings.Split(backends, ",") {
		d := store.Dialect(strings.TrimSpace(b))
		switch d {
		case store.SQLite, store.MySQL, store.PgSQL:
			o.Backends = append(o.Backends, d)
		default:
			return usagef("bench serve: --backend takes sqlite, mysql and pgsql, not %q", b)
		}
	}
	if o.CPUProfileDir != "" {
		// serve runs in a directory of its own: the path must not be relative.
		if o.CPUProfileDir, err = filepath.Abs(o.CPUProfileDir); err != nil {
			return fmt.Errorf("bench serve: %w", err)
		}
		if err := os.MkdirAll(o.CPUProfileDir, 0o755); err != nil {
			return fmt.Errorf("bench serve: %w", err)
		}
	}
	if o.Server == "" {
		if o.Server, err = os.Executable(); err != nil {
			return fmt.Errorf("bench serve: %w", err)
		}
	}
	return bench.Serve(ctx, o, env.Stdout, env.Stderr)
}
