package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tripintravel/tripin/queue"
)

// queueClearCommands are the commands of this file; root.go lists every file's.
var queueClearCommands = []*Command{
	{
		Name: "queue clear", Aliases: []string{"queue:clear"}, Usage: "[connection] [--queue Q] [--force]",
		Summary: "delete every job of a queue (asks first when APP_ENV=production)",
		Run:     runQueueClear,
	},
}

// confirmInput is where confirmations are read from; tests replace it.
var confirmInput io.Reader = os.Stdin

func runQueueClear(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue clear")
	q := fs.String("queue", queue.DefaultQueue, "the queue to clear")
	force := fs.Bool("force", false, "do not ask in production")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("queue clear: unexpected argument %q", rest[1])
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	adm, conn, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	if len(rest) == 1 && rest[0] != conn {
		return fmt.Errorf("queue clear: connection %q is not the configured one (%s)", rest[0], conn)
	}
	if cfg.IsProduction() && !*force {
		fmt.Fprintf(env.Stdout, "Application in production. Clear every job of the [%s] queue? (yes/no) [no]: ", *q)
		line, _ := bufio.NewReader(confirmInput).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
			fmt.Fprintln(env.Stdout)
			return errors.New("queue clear: cancelled")
		}
	}
	n, err := adm.QueueClear(ctx, *q)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Cleared %d jobs from the [%s:%s] queue.\n", n, conn, *q)
	return nil
}
