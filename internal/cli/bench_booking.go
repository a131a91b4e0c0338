package cli

import (
	"context"
	"time"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/store"
)

// benchBookingCommands are the commands of this file; root.go lists every file's.
var benchBookingCommands = []*Command{
	{
		Name: "bench booking", Aliases: []string{"bench:booking"},
		Usage: "--backend sqlite|mysql|pgsql [--dsn DSN] [--concurrency N] [--duration D] [--warmup D] " +
			"[--tours N] [--users N] [--seed-bookings N] [--no-jobs] [--fair-use] [--cpuprofile FILE] [--json]",
		Summary: "load-test POST /api/bookings against an in-process server on a fresh database",
		Run:     runBenchBooking,
	},
}

func runBenchBooking(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench booking")
	var (
		o       bench.BookingOptions
		backend string
	)
	fs.StringVar(&backend, "backend", "sqlite", "sqlite, mysql or pgsql")
	fs.StringVar(&o.DSN, "dsn", "", "server DSN to create the benchmark database next to (mysql, pgsql)")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "concurrent clients")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time of each phase")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured load before measuring")
	fs.IntVar(&o.Tours, "tours", 64, "tours to spread bookings over (1 = every request fights for one row)")
	fs.IntVar(&o.Users, "users", 256, "customers with their own tokens")
	fs.IntVar(&o.SeedBookings, "seed-bookings", 0, "measure, mark the bookings of that measurement paid, insert this many bookings of the past year (1% pending, 40% paid, the rest expired), measure again and compare")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the HTTP phase to this file")
	fs.BoolVar(&o.NoJobs, "no-jobs", false, "book without inserting the invoice email and expiry jobs (serve always inserts them)")
	fs.BoolVar(&o.FairUse, "fair-use", false, "count pending bookings per customer and bookings per minute, as serve does with its limits on (limits too high to refuse anything), to measure their cost")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON line")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.SeedBookings < 0 {
		return usagef("bench booking: --seed-bookings must not be negative")
	}
	if o.Concurrency < 1 || o.Tours < 1 || o.Users < 1 || o.Duration <= 0 {
		return usagef("bench booking: --concurrency, --tours, --users and --duration must be positive")
	}
	o.Backend = store.Dialect(backend)
	switch o.Backend {
	case store.SQLite, store.MySQL, store.PgSQL:
	default:
		return usagef("bench booking: --backend must be sqlite, mysql or pgsql")
	}
	return bench.Booking(ctx, o, env.Stdout)
}
