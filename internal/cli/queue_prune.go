package cli

// The failed-job cleanup commands: queue flush deletes failed jobs at once,
// queue prune-failed deletes old ones in chunks.

import (
	"context"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// queuePruneCommands are the commands of this file; root.go lists every file's.
var queuePruneCommands = []*Command{
	{
		Name: "queue flush", Aliases: []string{"queue:flush"}, Usage: "[--hours N]",
		Summary: "delete every failed job, or those older than N hours",
		Run:     runQueueFlush,
	},
	{
		Name: "queue prune-failed", Aliases: []string{"queue:prune-failed"}, Usage: "[--hours N]",
		Summary: "delete failed jobs older than N hours (24), in chunks",
		Run:     runQueuePruneFailed,
	},
}

func runQueueFlush(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue flush")
	hours := fs.Int("hours", 0, "only failed jobs older than this many hours (0: all)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue flush: unexpected argument %q", rest[0])
	}
	if *hours < 0 {
		return usagef("queue flush: --hours must be ≥ 0")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	// One statement: one line on stderr with its rows and time.
	m := env.meter(false)
	m.Start("failed_jobs", 0)
	n, err := adm.FailedFlush(ctx, &driver.FailedFlushParams{OlderThan: time.Duration(*hours) * time.Hour})
	if err != nil {
		m.Abort()
		return err
	}
	m.Finish(int64(n))
	if *hours > 0 {
		fmt.Fprintf(env.Stdout, "Deleted %d failed job(s) older than %d hours.\n", n, *hours)
		return nil
	}
	fmt.Fprintf(env.Stdout, "All failed jobs deleted successfully (%d).\n", n)
	return nil
}

func runQueuePruneFailed(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue prune-failed")
	hours := fs.Int("hours", 24, "delete failed jobs older than this many hours")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue prune-failed: unexpected argument %q", rest[0])
	}
	if *hours < 0 {
		return usagef("queue prune-failed: --hours must be ≥ 0")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	// The rows deleted on stderr as the chunks go.
	m := env.meter(false)
	m.Start("failed_jobs", 0)
	n, err := adm.FailedPrune(ctx, &driver.FailedPruneParams{OlderThan: time.Duration(*hours) * time.Hour,
		Progress: func(deleted int) { m.Set(int64(deleted)) }})
	if err != nil {
		m.Abort()
		return err
	}
	m.Finish(int64(n))
	fmt.Fprintf(env.Stdout, "%d entries deleted.\n", n)
	return nil
}
