package cli

import (
	"context"
	"fmt"
	"strings"
)

// queueForgetCommands are the commands of this file; root.go lists every file's.
var queueForgetCommands = []*Command{
	{
		Name: "queue forget", Aliases: []string{"queue:forget"}, Usage: "ID...",
		Summary: "delete failed jobs (IDs are failed-job ids or uuids)",
		Run:     runQueueForget,
	},
}

func runQueueForget(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue forget")
	ids, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return usagef("queue forget: give a failed job ID")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	n, err := adm.FailedForget(ctx, ids)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("queue forget: no failed job with ID %s", strings.Join(ids, ", "))
	}
	fmt.Fprintf(env.Stdout, "Deleted %d failed job(s).\n", n)
	return nil
}
