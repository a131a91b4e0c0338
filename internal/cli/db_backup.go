package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dbbackup"
	"github.com/tripintravel/tripin/internal/doctor"
)

// dbBackupCommands are the commands of this file; root.go lists every file's.
var dbBackupCommands = []*Command{
	{
		Name: "db backup", Aliases: []string{"db:backup"}, Usage: "FILE [--force] [--json]",
		Summary: "copy the SQLite database into FILE while the app runs (VACUUM INTO) and verify the copy",
		Run:     runDBBackup,
	},
}

func runDBBackup(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "db backup")
	force := fs.Bool("force", false, "replace FILE if it exists")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("db backup: name one destination FILE")
	}
	cfg, err := databaseConfig(env)
	if err != nil {
		return err
	}
	db, err := openExistingDB(ctx, env, cfg)
	if err != nil {
		return err
	}
	res, err := dbbackup.Backup(ctx, dbbackup.Params{DB: db, Path: rest[0], Force: *force})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(res)
	}
	_, err = fmt.Fprintf(env.Stdout, "Backed up %s to %s (%s, %d tables, integrity %s) in %s.\n",
		res.Source, res.Path, doctor.FormatBytes(res.Bytes), len(res.Tables), res.Integrity, res.Duration.Round(time.Millisecond))
	return err
}

// databaseConfig loads the configuration for a command that needs only the
// database: errors in the settings of payments, mail and signed links
// (MIDTRANS_*, PAYMENT_*, MAIL_*, APP_KEY), which it never uses, do not
// stop it; any other error does.
func databaseConfig(env *Env) (*config.Config, error) {
	cfg, err := env.Config()
	if err == nil {
		return cfg, nil
	}
	partial, errs := config.Diagnose(env.EnvFile)
	if partial == nil {
		return nil, err
	}
	for _, e := range errs {
		if !unusedByDatabaseCommands(e.Key) {
			return nil, e
		}
	}
	env.Cfg = partial
	return partial, nil
}

func unusedByDatabaseCommands(key string) bool {
	for _, prefix := range []string{"MIDTRANS_", "PAYMENT_", "MAIL_", "APP_KEY"} {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}
