package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tripintravel/tripin/internal/queue/driver"
)

func init() {
	register(&Command{
		Name: "queue stats", Aliases: []string{"queue:stats"}, Usage: "[--json]",
		Summary: "per queue: pending, delayed, reserved and failed jobs, oldest wait, paused",
		Run:     runQueueStats,
	})
}

// queueStatJSON is one queue as `queue stats --json` and `queue monitor
// --json` print it.
type queueStatJSON struct {
	Connection        string `json:"connection"`
	Queue             string `json:"queue"`
	Size              int    `json:"size"`
	Pending           int    `json:"pending"`
	Delayed           int    `json:"delayed"`
	Reserved          int    `json:"reserved"`
	Failed            int    `json:"failed"`
	OldestWaitSeconds int64  `json:"oldest_wait_seconds"`
	Paused            bool   `json:"paused"`
	// Status is OK or ALERT (monitor only).
	Status string `json:"status,omitempty"`
}

func statJSON(conn string, s *driver.QueueStat) queueStatJSON {
	return queueStatJSON{Connection: conn, Queue: s.Queue, Size: s.Size(), Pending: s.Pending, Delayed: s.Delayed,
		Reserved: s.Reserved, Failed: s.Failed, OldestWaitSeconds: int64(s.OldestWait / time.Second), Paused: s.Paused}
}

func runQueueStats(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue stats")
	asJSON := fs.Bool("json", false, "print JSON")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue stats: unexpected argument %q", rest[0])
	}
	adm, conn, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	stats, err := adm.QueueStats(ctx, &driver.QueueStatsParams{Queues: []string{"default"}})
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]queueStatJSON, 0, len(stats))
		for _, s := range stats {
			out = append(out, statJSON(conn, s))
		}
		return writeOpsJSON(env, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tQUEUE\tSIZE\tPENDING\tDELAYED\tRESERVED\tFAILED\tOLDEST WAIT\tPAUSED")
	for _, s := range stats {
		paused := "no"
		if s.Paused {
			paused = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", conn, s.Queue, s.Size(), s.Pending, s.Delayed, s.Reserved, s.Failed, s.OldestWait, paused)
	}
	return tw.Flush()
}
