package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// queueRetryCommands are the commands of this file; root.go lists every file's.
var queueRetryCommands = []*Command{
	{
		Name: "queue retry", Aliases: []string{"queue:retry"}, Usage: "ID...|all [--queue Q]",
		Summary: "push failed jobs back onto their queue (IDs are failed-job ids or uuids)",
		Run:     runQueueRetry,
	},
}

func runQueueRetry(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue retry")
	q := fs.String("queue", "", "only failed jobs of this queue")
	ids, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	all := len(ids) == 1 && ids[0] == "all"
	if len(ids) == 0 && *q != "" {
		all = true // Laravel: queue:retry --queue=emails retries that queue's jobs
	}
	if len(ids) == 0 && !all {
		return usagef("queue retry: give failed job IDs, or all")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	p := &driver.FailedRetryParams{All: all, Queue: *q, DefaultMaxAttempts: queue.DefaultTries}
	if !all {
		p.IDs = ids
	}
	moved, err := adm.FailedRetry(ctx, p)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	for _, f := range moved {
		found[f.UUID], found[strconv.FormatInt(f.ID, 10)] = true, true
		fmt.Fprintf(env.Stdout, "The failed job [%s] (%s) has been pushed back onto the [%s] queue.\n", f.UUID, queue.PayloadJobName(f.Payload), f.Queue)
	}
	if all {
		if len(moved) == 0 {
			fmt.Fprintln(env.Stdout, "No failed jobs to retry.")
		}
		return nil
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return errors.New("queue retry: no failed job with ID " + strings.Join(missing, ", "))
	}
	return nil
}
