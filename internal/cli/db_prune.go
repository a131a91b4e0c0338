package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tripintravel/tripin/internal/retention"
)

// dbPruneCommands are the commands of this file; root.go lists every file's.
var dbPruneCommands = []*Command{
	{
		Name: "db prune", Aliases: []string{"db:prune", "model:prune"}, Usage: "[--json]",
		Summary: "delete the records older than their retention now (the hourly prune-old-records task)",
		Run:     runDBPrune,
	},
}

// runDBPrune runs the scheduled prune in the foreground: after lowering a
// retention, or to see what the hourly task does.
func runDBPrune(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "db prune")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("db prune: unexpected argument %q", rest[0])
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	logger, err := env.Logger(false)
	if err != nil {
		return err
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	// A line per table on stderr as each finishes.
	m := env.meter(*asJSON)
	onTable := func(r retention.Result) { m.Report(r.Table, r.Rows, r.Took, r.Err) }
	p, err := retention.New(retention.Params{DB: db, Retention: cfg.Retention, TokenTTL: cfg.AuthTokenTTL, Logger: logger, OnTable: onTable})
	if err != nil {
		return err
	}
	rep, perr := p.PruneOnce(ctx)
	if *asJSON {
		if err := json.NewEncoder(env.Stdout).Encode(rep); err != nil {
			return err
		}
		return perr
	}
	for _, r := range rep.Results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(env.Stdout, "  %-34s %9d rows  failed: %s\n", r.Table, r.Rows, oneLine(r.Error))
		case r.Stopped:
			fmt.Fprintf(env.Stdout, "  %-34s %9d rows  %8.1f ms  (stopped by the time budget)\n", r.Table, r.Rows, r.TookMS)
		default:
			fmt.Fprintf(env.Stdout, "  %-34s %9d rows  %8.1f ms\n", r.Table, r.Rows, r.TookMS)
		}
	}
	fmt.Fprintf(env.Stdout, "Pruned %d rows in %.1f ms.\n", rep.Rows, rep.TookMS)
	return perr
}
