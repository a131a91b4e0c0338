package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tripintravel/tripin/internal/bench"
)

// benchWalCommands are the commands of this file; root.go lists every file's.
var benchWalCommands = []*Command{
	{
		Name: "bench wal", Aliases: []string{"bench:wal"},
		Usage: "[--server BINARY] [--generator go|wrk] [--concurrency N] [--duration D] [--settle D] [--sample D]\n" +
			"       [--tours N] [--scrape D] [--label NAME] [--csv FILE] [--svg FILE] [--plot-with CSV]… [--plot-only] [--keep] [--json]",
		Summary: "run `tripin serve` on a fresh SQLite file, load POST /api/bookings from outside and sample the WAL's size",
		Run:     runBenchWAL,
	},
}

func runBenchWAL(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench wal")
	o := bench.WALOptions{AdminEmail: demoAdminEmail, CustomerEmail: demoCustomerEmail, DemoPassword: demoPassword}
	fs.StringVar(&o.Server, "server", "", "the tripin binary to run as the server (default: this one)")
	fs.StringVar(&o.Generator, "generator", "go", "load generator: go (this process) or wrk (Debian's wrk, which must be on PATH)")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "concurrent clients (wrk connections)")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "how long the load lasts")
	fs.DurationVar(&o.Settle, "settle", 5*time.Second, "how long to keep sampling after the load, server still up")
	fs.DurationVar(&o.Sample, "sample", 100*time.Millisecond, "how often to read the WAL file's size")
	fs.IntVar(&o.Tours, "tours", 8, "tours of 1,000,000 seats each to spread the bookings over")
	fs.DurationVar(&o.Scrape, "scrape", time.Second, "GET /metrics this often during the load, as Prometheus would (0: never)")
	fs.StringVar(&o.Label, "label", "", "name of this run in the CSV and the plot (default: the server binary's name)")
	fs.StringVar(&o.CSV, "csv", "", "write the samples to this CSV file")
	fs.StringVar(&o.SVG, "svg", "", "draw the WAL size over time into this SVG file")
	fs.Func("plot-with", "also draw the samples of an earlier run's --csv file (repeatable)", func(s string) error {
		o.PlotWith = append(o.PlotWith, s)
		return nil
	})
	fs.BoolVar(&o.PlotOnly, "plot-only", false, "run nothing: draw the --plot-with files into --svg (--duration marks the end of the load)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run's directory (database, logs, server output)")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON line")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("bench wal: unexpected argument %q", rest[0])
	}
	if o.Concurrency < 1 || o.Tours < 1 || o.Duration <= 0 || o.Sample <= 0 || o.Settle < 0 || o.Scrape < 0 {
		return usagef("bench wal: --concurrency, --tours, --duration and --sample must be positive")
	}
	if o.Generator != "go" && o.Generator != "wrk" {
		return usagef("bench wal: --generator must be go or wrk")
	}
	if o.PlotOnly && (o.SVG == "" || len(o.PlotWith) == 0) {
		return usagef("bench wal: --plot-only needs --svg and at least one --plot-with")
	}
	if o.Server == "" {
		if o.Server, err = os.Executable(); err != nil {
			return fmt.Errorf("bench wal: %w", err)
		}
	}
	if o.Label == "" {
		o.Label = filepath.Base(o.Server)
	}
	return bench.WAL(ctx, o, env.Stdout, env.Stderr)
}
