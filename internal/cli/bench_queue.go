package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/store"
)

// benchQueueCommands are the commands of this file; root.go lists every file's.
var benchQueueCommands = []*Command{
	{
		Name: "bench queue", Aliases: []string{"bench:queue"},
		Usage: "--backend sqlite|mysql|pgsql|redis [--dsn DSN] [--redis-url URL] [--jobs N] [--concurrency N[,N…]] [--runs N] [--insert-batch N]\n" +
			"       [--latency-jobs N] [--latency-interval D] [--backlog N] [--delayed M [--keep]] [--stats] [--cpuprofile FILE] [--json]",
		Summary: "measure the queue: inserts/s, no-op jobs worked/s and enqueue-to-start latency, on a fresh database",
		Run:     runBenchQueue,
	},
}

func runBenchQueue(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench queue")
	var (
		o           bench.QueueOptions
		backend     string
		concurrency string
	)
	fs.StringVar(&backend, "backend", "sqlite", "sqlite, mysql, pgsql or redis")
	fs.StringVar(&o.DSN, "dsn", "", "server DSN (a fresh database is created on its server and dropped after); for sqlite and redis, a directory for the temporary SQLite file")
	fs.StringVar(&o.RedisURL, "redis-url", "", "for redis, the server (default REDIS_URL, else "+bench.DefaultRedisURL+"); the jobs go under a random key prefix deleted after")
	fs.IntVar(&o.Jobs, "jobs", 20000, "jobs to insert and drain")
	fs.StringVar(&concurrency, "concurrency", "", "worker concurrency, or a comma-separated list to try (default 100,1000: both are tried and the best reported)")
	fs.IntVar(&o.InsertBatch, "insert-batch", 1000, "jobs per InsertMany call")
	fs.IntVar(&o.Runs, "runs", 3, "drains per concurrency setting; the median counts")
	fs.IntVar(&o.LatencyJobs, "latency-jobs", 500, "jobs inserted one at a time for each latency measurement")
	fs.DurationVar(&o.LatencyInterval, "latency-interval", 10*time.Millisecond, "pause between latency inserts")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the first drain to this file")
	fs.BoolVar(&o.Stats, "stats", false, "print the driver calls of each drain (count, rows, time) on stderr")
	fs.StringVar(&o.Ops, "ops", "none", "the worker's operations layer: none, metrics (as queue work runs it) or keep (metrics and completed jobs kept); its last flush is inside the measured drain")
	fs.IntVar(&o.Backlog, "backlog", 0, "then measure again on a database first seeded with this many pending jobs on queue "+bench.BacklogQueue+" (which no worker takes), side by side with the empty table")
	fs.IntVar(&o.Delayed, "delayed", 0, "with the backlog, this many jobs due in an hour on the measured queue")
	fs.BoolVar(&o.Keep, "keep", false, "with the backlog, keep its seeded database (its DSN is printed on stderr) to look at afterwards")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON line")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch o.Ops {
	case "none", "metrics", "keep":
	default:
		return usagef("bench queue: --ops must be none, metrics or keep")
	}
	if backend != "redis" && o.RedisURL != "" {
		return usagef("bench queue: --redis-url is for --backend redis")
	}
	o.Backend = store.Dialect(backend)
	switch o.Backend {
	case "redis":
		o.Backend = store.SQLite
		if o.RedisURL == "" {
			// A configuration that does not load leaves the default: the
			// benchmark needs nothing else from it.
			if cfg, err := env.Config(); err == nil {
				o.RedisURL = cfg.RedisURL
			}
		}
		o.RedisURL = bench.RedisURL(o.RedisURL)
	case store.SQLite:
	case store.MySQL, store.PgSQL:
		o.DSN = bench.ServerDSN(o.Backend, o.DSN)
	default:
		return usagef("bench queue: --backend must be sqlite, mysql, pgsql or redis, not %q", backend)
	}
	if concurrency == "" {
		concurrency = "100,1000"
	}
	for _, s := range strings.Split(concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return usagef("bench queue: --concurrency: bad value %q", s)
		}
		o.Concurrency = append(o.Concurrency, n)
	}
	if o.Backlog < 0 || o.Delayed < 0 {
		return usagef("bench queue: --backlog and --delayed must not be negative")
	}
	if o.Jobs < 1 || o.InsertBatch < 1 || o.Runs < 1 || o.LatencyJobs < 0 {
		return usagef("bench queue: --jobs, --insert-batch and --runs must be positive")
	}
	o.Progress = env.meter(o.JSON)
	o.Progress.SetUnit("jobs")
	return bench.Queue(ctx, o, env.Stdout, env.Stderr)
}
