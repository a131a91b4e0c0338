package cli

import (
	"context"
	"time"

	"github.com/tripintravel/tripin/internal/about"
)

// aboutCommands are the commands of this file; root.go lists every file's.
var aboutCommands = []*Command{
	{
		Name: "about", Usage: "[--json]",
		Summary: "describe this deployment: environment, database, queues, mail, Midtrans mode, schedule, retention (secrets masked)",
		Run:     runAbout,
	},
}

func runAbout(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "about")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("about: unexpected argument %q", rest[0])
	}
	p := about.Params{}
	p.Config, p.ConfigErrors = reportConfig(env)
	if p.Config != nil {
		p.DB, p.DBErr = openExistingDB(ctx, env, p.Config)
		if s, err := defaultSchedule(p.Config); err == nil {
			p.Schedule = s.Describe(time.Now())
		}
		if p.DB != nil {
			p.Queues, _, p.QueuesErr = openAdmin(ctx, env)
		}
	}
	r := about.Collect(ctx, p)
	if *asJSON {
		return r.WriteJSON(env.Stdout)
	}
	return r.WriteText(env.Stdout)
}
