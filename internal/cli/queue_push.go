package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/queue"
)

// queuePushCommands are the commands of this file; root.go lists every file's.
var queuePushCommands = []*Command{
	{
		Name: "queue push", Aliases: []string{"queue:push"},
		Usage:   "KIND [--args JSON] [--queue Q] [--delay S] [--tries N] [--count N] [--connection C] [--json]",
		Summary: "dispatch jobs from the shell (built-in kinds: noop, sleep {\"ms\":N}, fail)",
		Run:     runQueuePush,
	},
}

// pushBatch is how many jobs one InsertMany of `queue push` carries.
const pushBatch = 1000

// maxPush bounds --count so that a typo cannot fill the database.
const maxPush = 10_000_000

func runQueuePush(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue push")
	rawArgs := fs.String("args", "{}", "the job's args as a JSON object")
	queueName := fs.String("queue", "", "queue (default: the kind's, else default)")
	var delay durationFlag
	fs.Var(&delay, "delay", "seconds (or a duration such as 5m) before the job may run")
	var tries intFlag
	fs.Var(&tries, "tries", "attempts (0 = unlimited; default: the kind's)")
	count := fs.Int("count", 1, "how many identical jobs to push")
	conn := fs.String("connection", "", "queue connection (default QUEUE_CONNECTION)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("queue push: want exactly one job kind, such as noop, sleep or fail")
	}
	kind := pos[0]
	if *count < 1 || *count > maxPush {
		return usagef("queue push: --count must be between 1 and %d", maxPush)
	}
	if !json.Valid([]byte(*rawArgs)) {
		return usagef("queue push: --args is not valid JSON: %s", *rawArgs)
	}
	opts := &queue.InsertOpts{Queue: *queueName, Delay: delay.d}
	if tries.set {
		switch {
		case tries.n < 0:
			return usagef("queue push: --tries must be 0 (unlimited) or more")
		case tries.n == 0:
			opts.Tries = queue.TriesUnlimited
		default:
			opts.Tries = tries.n
		}
	}
	a, err := openApp(ctx, env, app.Options{Connection: *conn})
	if err != nil {
		return err
	}
	client := a.Queue
	if !client.Workers().Has(kind) {
		return fmt.Errorf("queue push: unknown job kind %q; known kinds: %s", kind, strings.Join(client.Workers().Kinds(), ", "))
	}
	job := queue.RawArgs{KindName: kind, JSON: json.RawMessage(*rawArgs)}
	var (
		ids     []int64
		skipped int
	)
	for done := 0; done < *count; {
		n := min(pushBatch, *count-done)
		batch := make([]queue.InsertManyParams, n)
		for i := range batch {
			batch[i] = queue.InsertManyParams{Args: job, Opts: opts}
		}
		res, err := client.InsertMany(ctx, batch)
		if err != nil {
			if done > 0 {
				return fmt.Errorf("queue push: after %d jobs: %w", done, err)
			}
			return err
		}
		for _, r := range res {
			if r.Skipped {
				skipped++
			} else if r.ID != 0 {
				ids = append(ids, r.ID)
			}
		}
		done += n
	}
	if *asJSON {
		out := struct {
			Kind       string  `json:"kind"`
			Connection string  `json:"connection"`
			Count      int     `json:"count"`
			IDs        []int64 `json:"ids,omitempty"`
		}{kind, client.Connection(), *count, ids}
		if len(out.IDs) > 100 {
			out.IDs = nil
		}
		return json.NewEncoder(env.Stdout).Encode(out)
	}
	what := fmt.Sprintf("%d %s job", *count, kind)
	if *count != 1 {
		what += "s"
	}
	switch {
	case client.Connection() == queue.ConnectionSync:
		fmt.Fprintf(env.Stdout, "Ran %s inline (sync connection).\n", what)
	case len(ids) == 1:
		fmt.Fprintf(env.Stdout, "Pushed %s (id %d).\n", what, ids[0])
	case len(ids) > 1:
		fmt.Fprintf(env.Stdout, "Pushed %s (ids %d–%d).\n", what, ids[0], ids[len(ids)-1])
	default:
		fmt.Fprintf(env.Stdout, "Pushed %s.\n", what)
	}
	return nil
}
