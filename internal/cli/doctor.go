package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dbcopy"
	"github.com/tripintravel/tripin/internal/doctor"
	"github.com/tripintravel/tripin/internal/store"
)

// doctorCommands are the commands of this file; root.go lists every file's.
var doctorCommands = []*Command{
	{
		Name: "doctor", Usage: "[--json] [--quiet]",
		Summary: "check this deployment (configuration, database, schema, clock, SMTP, Redis, workers, scheduler, disk, retention); exit 1 on any problem",
		Run:     runDoctor,
	},
}

func runDoctor(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "doctor")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	quiet := fs.Bool("quiet", false, "print only the problems")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("doctor: unexpected argument %q", rest[0])
	}
	p := doctor.Params{RetentionTask: pruneOldRecordsEvent}
	p.Config, p.ConfigErrors = reportConfig(env)
	if p.Config != nil {
		p.DB, p.DBErr = openExistingDB(ctx, env, p.Config)
	}
	results := doctor.Run(ctx, p)
	var err error
	if *asJSON {
		err = doctor.WriteJSON(env.Stdout, results)
	} else {
		err = doctor.WriteText(env.Stdout, results, *quiet)
	}
	if err != nil {
		return err
	}
	if doctor.Problems(results) > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// reportConfig loads the configuration for the commands that report on a
// deployment (doctor, about). A configuration that would stop any other
// command does not stop them: they go on with what config.Diagnose could
// read, and report every error, one line each.
func reportConfig(env *Env) (*config.Config, []string) {
	cfg, err := env.Config()
	if err == nil {
		return cfg, nil
	}
	partial, errs := config.Diagnose(env.EnvFile)
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, e.Key+": "+e.Reason)
	}
	if len(lines) == 0 {
		lines = append(lines, err.Error())
	}
	if partial != nil {
		env.Cfg = partial
	}
	return partial, lines
}

// openExistingDB opens the configured database for a command that only
// reads or copies it: an SQLite file that is not there is an error, not
// created empty, as opening it would.
func openExistingDB(ctx context.Context, env *Env, cfg *config.Config) (*store.DB, error) {
	if d, dsn := app.DSN(cfg); d == store.SQLite {
		path := dbcopy.SQLitePath(dsn)
		if _, err := os.Stat(path); path != ":memory:" && errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the SQLite database %s does not exist (DB_DATABASE); 'tripin migrate' creates it", path)
		}
	}
	return env.OpenDB(ctx)
}
