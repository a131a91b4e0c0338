package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

func init() {
	register(&Command{
		Name: "queue prune-failed", Aliases: []string{"queue:prune-failed"}, Usage: "[--hours N]",
		Summary: "delete failed jobs older than N hours (24), in chunks",
		Run:     runQueuePruneFailed,
	})
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
	n, err := adm.FailedPrune(ctx, &driver.FailedPruneParams{OlderThan: time.Duration(*hours) * time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d entries deleted.\n", n)
	return nil
}
