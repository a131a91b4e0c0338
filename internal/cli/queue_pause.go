package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// queuePauseCommands are the commands of this file; root.go lists every file's.
var queuePauseCommands = []*Command{
	{
		Name: "queue pause", Aliases: []string{"queue:pause"}, Usage: "[connection:]QUEUE...",
		Summary: "stop every worker on every server from taking jobs from a queue",
		Run:     func(ctx context.Context, env *Env, args []string) error { return runQueuePause(ctx, env, args, true) },
	},
	{
		Name: "queue resume", Aliases: []string{"queue:resume", "queue:continue"}, Usage: "[connection:]QUEUE...",
		Summary: "let workers take jobs from a paused queue again",
		Run:     func(ctx context.Context, env *Env, args []string) error { return runQueuePause(ctx, env, args, false) },
	},
}

func runQueuePause(ctx context.Context, env *Env, args []string, pause bool) error {
	name := "queue resume"
	if pause {
		name = "queue pause"
	}
	fs := newFlags(env, name)
	specs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return usagef("%s: name a queue", name)
	}
	adm, conn, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, spec := range specs {
		c, q, ok := strings.Cut(spec, ":")
		if !ok {
			c, q = conn, spec
		}
		if c != conn {
			return fmt.Errorf("%s: connection %q is not the configured one (%s)", name, c, conn)
		}
		if pause {
			if err := adm.QueuePause(ctx, q, host); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Job processing on queue [%s:%s] has been paused.\n", c, q)
			continue
		}
		if err := adm.QueueResume(ctx, q); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Job processing on queue [%s:%s] has been resumed.\n", c, q)
	}
	return nil
}
