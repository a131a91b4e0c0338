package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// queueRetryBatchCommands are the commands of this file; root.go lists every file's.
var queueRetryBatchCommands = []*Command{
	{
		Name: "queue retry-batch", Aliases: []string{"queue:retry-batch"}, Usage: "ID",
		Summary: "push the failed jobs of a batch back onto their queues",
		Run:     runQueueRetryBatch,
	},
}

func runQueueRetryBatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue retry-batch")
	ids, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return usagef("queue retry-batch: give one batch ID")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	b, moved, err := queue.RetryBatch(ctx, adm, ids[0], queue.DefaultTries)
	if errors.Is(err, driver.ErrNotFound) {
		return fmt.Errorf("queue retry-batch: no batch with ID %s", ids[0])
	}
	if err != nil {
		return err
	}
	for _, f := range moved {
		fmt.Fprintf(env.Stdout, "The failed job [%s] (%s) has been pushed back onto the [%s] queue.\n", f.UUID, queue.PayloadJobName(f.Payload), f.Queue)
	}
	if len(moved) == 0 {
		fmt.Fprintf(env.Stdout, "The batch [%s] has no failed jobs to retry.\n", b.ID)
	}
	return nil
}
