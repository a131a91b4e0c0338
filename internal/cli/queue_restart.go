package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/queue"
)

// queueRestartCommands are the commands of this file; root.go lists every file's.
var queueRestartCommands = []*Command{
	{
		Name: "queue restart", Aliases: []string{"queue:restart"},
		Usage:   "[--connection C]",
		Summary: "make every worker on every server exit after its current jobs",
		Run:     runQueueRestart,
	},
}

func runQueueRestart(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue restart")
	conn := fs.String("connection", "", "queue connection (default QUEUE_CONNECTION)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("queue restart: unexpected argument %q", pos[0])
	}
	a, err := openApp(ctx, env, app.Options{Connection: *conn, BuiltinsOnly: true})
	if err != nil {
		return err
	}
	d := a.Queue.Driver()
	if d == nil {
		fmt.Fprintln(env.Stdout, "The sync connection has no workers to restart.")
		return nil
	}
	// The database clock, in milliseconds: any change tells the workers,
	// and two restarts within a second still differ.
	now, err := d.Now(ctx)
	if err != nil {
		return fmt.Errorf("queue restart: %w", err)
	}
	if err := d.CachePut(ctx, queue.RestartCacheKey, strconv.FormatInt(now.UnixMilli(), 10), 0); err != nil {
		return fmt.Errorf("queue restart: %w", err)
	}
	fmt.Fprintln(env.Stdout, "\n   INFO  Broadcasting queue restart signal.")
	return nil
}
