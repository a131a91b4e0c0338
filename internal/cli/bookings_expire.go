package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/expiry"
)

// bookingsExpireCommands are the commands of this file; root.go lists every file's.
var bookingsExpireCommands = []*Command{
	{
		Name: "bookings expire", Aliases: []string{"bookings:expire"}, Usage: "[--chunk N] [--json]",
		Summary: "expire unpaid bookings now and give their seats back (the scheduled sweep)",
		Run:     runBookingsExpire,
	},
}

func runBookingsExpire(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bookings expire")
	chunk := fs.Int("chunk", expiry.DefaultChunkSize, "bookings per transaction")
	asJSON := fs.Bool("json", false, "print the result as JSON (each expiry is still logged to LOG_FILE)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("bookings expire: unexpected argument %q", rest[0])
	}
	if *chunk < 1 {
		return usagef("bookings expire: --chunk must be at least 1")
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	// Text mode prints each expiry as a log line on stdout as it happens.
	logger, err := env.Logger(!*asJSON)
	if err != nil {
		return err
	}
	// The queue takes the jobs that expire the released bookings' Snap
	// transactions at Midtrans, inserted with each chunk.
	a, err := openApp(ctx, env, app.Options{Logger: logger})
	if err != nil {
		return err
	}
	x, err := expiry.New(expiry.Deps{DB: a.DB, Expiry: cfg.BookingExpiry(), ChunkSize: *chunk, Logger: logger,
		OnExpiredTx: app.ExpireSnapsOnExpiredTx(a.DB, a.Queue)})
	if err != nil {
		return err
	}
	res, err := x.Sweep(ctx)
	if err != nil {
		if res != nil && res.Expired > 0 {
			fmt.Fprintf(env.Stderr, "Expired %d bookings before the error.\n", res.Expired)
		}
		return err
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(res)
	}
	if res.Expired == 0 {
		fmt.Fprintf(env.Stdout, "No unpaid bookings older than %d minutes.\n", cfg.BookingExpiryMinutes)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Expired %d bookings older than %d minutes; %d seats returned to %d tours, in %d transactions (%s).\n",
		res.Expired, cfg.BookingExpiryMinutes, res.SeatsReturned, len(res.Tours), res.Transactions, res.Duration.Round(1e6))
	tours := make([]int64, 0, len(res.Tours))
	for id := range res.Tours {
		tours = append(tours, id)
	}
	slices.Sort(tours)
	for _, id := range tours {
		fmt.Fprintf(env.Stdout, "  tour %d: +%d seats\n", id, res.Tours[id])
	}
	return nil
}
