package cli

import (
	"context"
	"time"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
)

// benchPruneCommands are the commands of this file; root.go lists every file's.
var benchPruneCommands = []*Command{
	{
		Name: "bench prune", Aliases: []string{"bench:prune"},
		Usage: "--backend sqlite|mysql|pgsql [--dsn DSN] [--rows N] [--chunk N] [--concurrency N] " +
			"[--duration D] [--json]",
		Summary: "time the retention prune of N old metric points and N old completed jobs, and booking latency during it",
		Run:     runBenchPrune,
	},
}

func runBenchPrune(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench prune")
	var (
		o       bench.PruneOptions
		backend string
	)
	fs.StringVar(&backend, "backend", "sqlite", "sqlite, mysql or pgsql")
	fs.StringVar(&o.DSN, "dsn", "", "server DSN to create the benchmark database next to (mysql, pgsql)")
	fs.IntVar(&o.Rows, "rows", 1_000_000, "old rows to seed in job_metrics and in completed_jobs (each)")
	fs.IntVar(&o.Chunk, "chunk", config.DefaultRetentionChunkSize, "rows per DELETE (RETENTION_CHUNK_SIZE)")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "concurrent booking clients")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of the phases without the prune")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON line")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Rows < 1 || o.Chunk < 1 || o.Concurrency < 1 || o.Duration <= 0 {
		return usagef("bench prune: --rows, --chunk, --concurrency and --duration must be positive")
	}
	o.Backend = store.Dialect(backend)
	switch o.Backend {
	case store.SQLite, store.MySQL, store.PgSQL:
	default:
		return usagef("bench prune: --backend must be sqlite, mysql or pgsql")
	}
	o.Progress = env.meter(o.JSON)
	return bench.Prune(ctx, o, env.Stdout)
}
