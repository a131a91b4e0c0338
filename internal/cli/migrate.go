package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/tripintravel/tripin/internal/progress"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// migrateCommands are the commands of this file; root.go lists every file's.
var migrateCommands = []*Command{
	{
		Name: "migrate", Usage: "[--fresh] [--seed] [--force]",
		Summary: "apply pending database migrations",
		Run:     runMigrate,
	},
	{
		Name: "migrate status", Aliases: []string{"migrate:status"}, Usage: "[--json]",
		Summary: "list migrations and whether each has been applied",
		Run:     runMigrateStatus,
	},
	{
		Name: "migrate fresh", Aliases: []string{"migrate:fresh"}, Usage: "[--seed] [--force]",
		Summary: "drop every table and migrate from scratch",
		Run: func(ctx context.Context, env *Env, args []string) error {
			return runMigrate(ctx, env, append([]string{"--fresh"}, args...))
		},
	},
}

func runMigrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate")
	fresh := fs.Bool("fresh", false, "drop every table first")
	seed := fs.Bool("seed", false, "seed demo data afterwards")
	force := fs.Bool("force", false, "allow --fresh when APP_ENV=production")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	if *fresh && cfg.IsProduction() && !*force {
		return errors.New("migrate --fresh drops every table; refusing in production without --force")
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	if *fresh {
		if err := db.DropAll(ctx); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "Dropped all tables.")
	}
	// Each migration on stderr as it is applied, with its duration.
	meter := env.meter(false)
	done, err := db.MigrateProgress(ctx, func(s sqldb.MigrationStep) {
		if s.Applied {
			meter.Report(s.Name, -1, s.Took, nil)
		} else {
			meter.Start(s.Name, progress.Uncounted)
		}
	})
	if err != nil {
		meter.Abort()
	}
	for _, m := range done {
		fmt.Fprintf(env.Stdout, "Migrated: %s\n", m)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(env.Stdout, "Nothing to migrate.")
	}
	if *seed {
		return runSeed(ctx, env, db)
	}
	return nil
}

func runMigrateStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate status")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	ms, err := db.Migrations(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(ms)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIGRATION\tBATCH\tSTATUS")
	for _, m := range ms {
		status, batch := "Pending", ""
		if m.Applied {
			status, batch = "Ran", fmt.Sprint(m.Batch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, batch, status)
	}
	return tw.Flush()
}
