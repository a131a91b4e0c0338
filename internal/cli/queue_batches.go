package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// queueBatchesCommands are the commands of this file; root.go lists every file's.
var queueBatchesCommands = []*Command{
	{
		Name: "queue batches", Aliases: []string{"queue:batches"}, Usage: "[--limit N] [--json]",
		Summary: "list job batches, newest first, with their progress",
		Run:     runQueueBatches,
	},
	{
		Name: "queue cancel-batch", Aliases: []string{"queue:cancel-batch"}, Usage: "ID",
		Summary: "cancel a batch: workers skip its jobs that have not started",
		Run:     runQueueCancelBatch,
	},
	{
		Name: "queue prune-batches", Aliases: []string{"queue:prune-batches"}, Usage: "[--hours N] [--unfinished N] [--cancelled N]",
		Summary: "delete finished batches older than N hours (24)",
		Run:     runQueuePruneBatches,
	},
}

// batchJSON is one batch as `queue batches --json` prints it.
type batchJSON struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	TotalJobs     int        `json:"total_jobs"`
	PendingJobs   int        `json:"pending_jobs"`
	ProcessedJobs int        `json:"processed_jobs"`
	FailedJobs    int        `json:"failed_jobs"`
	FailedJobIDs  []string   `json:"failed_job_ids"`
	Progress      int        `json:"progress"`
	CreatedAt     time.Time  `json:"created_at"`
	CancelledAt   *time.Time `json:"cancelled_at"`
	FinishedAt    *time.Time `json:"finished_at"`
}

func toBatchJSON(b *driver.Batch) batchJSON {
	return batchJSON{ID: b.ID, Name: b.Name, TotalJobs: b.TotalJobs, PendingJobs: b.PendingJobs, ProcessedJobs: b.ProcessedJobs(),
		FailedJobs: b.FailedJobs, FailedJobIDs: b.FailedJobIDs, Progress: b.Progress(), CreatedAt: b.CreatedAt,
		CancelledAt: b.CancelledAt, FinishedAt: b.FinishedAt}
}

func runQueueBatches(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue batches")
	limit := fs.Int("limit", 50, "show at most N batches (0: all)")
	asJSON := fs.Bool("json", false, "print JSON")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue batches: unexpected argument %q", rest[0])
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	list, err := adm.BatchList(ctx, &driver.BatchListParams{Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]batchJSON, 0, len(list))
		for _, b := range list {
			out = append(out, toBatchJSON(b))
		}
		return writeOpsJSON(env, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "No batches found.")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTOTAL\tPENDING\tFAILED\tPROGRESS\tCREATED AT\tSTATE")
	for _, b := range list {
		state := "running"
		switch {
		case b.Cancelled():
			state = "cancelled"
		case b.Finished():
			state = "finished"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d%%\t%s\t%s\n", b.ID, b.Name, b.TotalJobs, b.PendingJobs, b.FailedJobs, b.Progress(),
			b.CreatedAt.Format(time.DateTime), state)
	}
	return tw.Flush()
}

func runQueueCancelBatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue cancel-batch")
	ids, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return usagef("queue cancel-batch: give one batch ID")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	b, err := adm.BatchCancel(ctx, ids[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Batch [%s] cancelled; %d of its jobs will be skipped.\n", b.ID, b.PendingJobs-b.FailedJobs)
	return nil
}

func runQueuePruneBatches(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue prune-batches")
	hours := fs.Int("hours", 24, "delete finished batches older than this many hours")
	unfinished := fs.Int("unfinished", 0, "also delete unfinished batches older than this many hours (0: keep)")
	cancelled := fs.Int("cancelled", 0, "also delete cancelled batches older than this many hours (0: keep)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue prune-batches: unexpected argument %q", rest[0])
	}
	if *hours < 0 || *unfinished < 0 || *cancelled < 0 {
		return usagef("queue prune-batches: hours must be ≥ 0")
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	n, err := adm.BatchPrune(ctx, &driver.BatchPruneParams{
		OlderThan:  time.Duration(*hours) * time.Hour,
		Unfinished: time.Duration(*unfinished) * time.Hour,
		Cancelled:  time.Duration(*cancelled) * time.Hour,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d entries deleted.\n", n)
	return nil
}
