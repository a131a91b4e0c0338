package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/queue/driver"
)

// queueMonitorCommands are the commands of this file; root.go lists every file's.
var queueMonitorCommands = []*Command{
	{
		Name: "queue monitor", Aliases: []string{"queue:monitor"}, Usage: "[connection:]queue[,…] [--max N] [--json]",
		Summary: "show the size of queues; ALERT (and a queue-busy notification) over --max jobs",
		Run:     runQueueMonitor,
	},
}

func runQueueMonitor(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue monitor")
	maxJobs := fs.Int("max", 0, "alert when a queue holds more than this many jobs (default QUEUE_MONITOR_MAX, 1000)")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("queue monitor: name the queues, e.g. database:default,database:emails")
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	if *maxJobs <= 0 {
		*maxJobs = cfg.QueueMonitorMax
		if *maxJobs <= 0 {
			*maxJobs = 1000
		}
	}
	adm, conn, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	// With a webhook configured, an ALERT below also reaches Slack and
	// Discord (one message per queue and window).
	var notifier *notify.Notifier
	if cfg.NotificationsEnabled() {
		a, err := openApp(ctx, env, app.Options{BuiltinsOnly: true})
		if err != nil {
			return err
		}
		notifier = a.Notifier
	}
	var queues []string
	for _, arg := range rest {
		for _, spec := range strings.Split(arg, ",") {
			spec = strings.TrimSpace(spec)
			if spec == "" {
				continue
			}
			c, q, ok := strings.Cut(spec, ":")
			if !ok {
				c, q = conn, spec
			}
			if c != conn {
				return fmt.Errorf("queue monitor: connection %q is not the configured one (%s)", c, conn)
			}
			queues = append(queues, q)
		}
	}
	// Counting up to the threshold is enough to compare against it.
	stats, err := adm.QueueStats(ctx, &driver.QueueStatsParams{Queues: queues, CountLimit: max(driver.DefaultCountLimit, *maxJobs)})
	if err != nil {
		return err
	}
	byQueue := map[string]*driver.QueueStat{}
	for _, s := range stats {
		byQueue[s.Queue] = s
	}
	out := make([]queueStatJSON, 0, len(queues))
	for _, q := range queues {
		s := byQueue[q]
		j := statJSON(conn, s)
		j.Status = "OK"
		if s.Size() > *maxJobs {
			j.Status = "ALERT"
			if notifier != nil {
				notifier.RecordQueueBusy(ctx, notify.QueueBusy{Queue: q, Size: s.Size(), Max: *maxJobs})
			}
		}
		out = append(out, j)
	}
	if *asJSON {
		return writeOpsJSON(env, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tQUEUE\tSIZE\tPENDING\tDELAYED\tRESERVED\tOLDEST WAIT")
	for _, j := range out {
		fmt.Fprintf(tw, "%s\t[%s] %s\t%d\t%d\t%d\t%d\t%s\n", j.Status, j.Connection, j.Queue, j.Size, j.Pending, j.Delayed, j.Reserved,
			time.Duration(j.OldestWaitSeconds)*time.Second)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, j := range out {
		if j.Status == "ALERT" {
			fmt.Fprintf(env.Stdout, "ALERT: queue [%s:%s] has %d jobs, more than the threshold of %d.\n", j.Connection, j.Queue, j.Size, *maxJobs)
		}
	}
	return nil
}
