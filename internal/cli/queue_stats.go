package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// queueStatsCommands are the commands of this file; root.go lists every file's.
var queueStatsCommands = []*Command{
	{
		Name: "queue stats", Aliases: []string{"queue:stats"}, Usage: "[--json | --workers] [--exact]",
		Summary: "per queue: pending, delayed, reserved and failed jobs, oldest wait, paused; then the live workers",
		Run:     runQueueStats,
	},
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
	// CountLimit is set when a count stopped at the limit: a pending,
	// delayed or reserved count above it means more than it.
	CountLimit int `json:"count_limit,omitempty"`
	// Status is OK or ALERT (monitor only).
	Status string `json:"status,omitempty"`
}

func statJSON(conn string, s *driver.QueueStat) queueStatJSON {
	j := queueStatJSON{Connection: conn, Queue: s.Queue, Size: s.Size(), Pending: s.Pending, Delayed: s.Delayed,
		Reserved: s.Reserved, Failed: s.Failed, OldestWaitSeconds: int64(s.OldestWait / time.Second), Paused: s.Paused}
	if s.AnyCapped() {
		j.CountLimit = s.CountLimit
	}
	return j
}

func runQueueStats(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue stats")
	asJSON := fs.Bool("json", false, "print the queues as JSON")
	workers := fs.Bool("workers", false, "print the live workers and schedulers as a JSON array instead")
	exact := fs.Bool("exact", false, fmt.Sprintf("count every job; by default a queue's count of one state stops above %d (shown as %d+), which keeps the command fast with a backlog of millions", driver.DefaultCountLimit, driver.DefaultCountLimit))
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue stats: unexpected argument %q", rest[0])
	}
	adm, conn, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	if *workers {
		procs, err := liveProcesses(ctx, adm)
		if err != nil {
			return err
		}
		out := make([]processJSON, 0, len(procs))
		for _, p := range procs {
			out = append(out, newProcessJSON(p))
		}
		return writeOpsJSON(env, out)
	}
	params := &driver.QueueStatsParams{Queues: []string{"default"}}
	if *exact {
		params.CountLimit = -1
	}
	stats, err := adm.QueueStats(ctx, params)
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
	capped := 0
	for _, s := range stats {
		paused := "no"
		if s.Paused {
			paused = "yes"
		}
		count := func(n int) string {
			if s.Capped(n) {
				capped = s.CountLimit
				return strconv.Itoa(s.CountLimit) + "+"
			}
			return strconv.Itoa(n)
		}
		size := strconv.Itoa(s.Size())
		if s.AnyCapped() {
			// At least Size jobs: more than Size-1.
			size = strconv.Itoa(s.Size()-1) + "+"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", conn, s.Queue, size, count(s.Pending), count(s.Delayed), count(s.Reserved), s.Failed, s.OldestWait, paused)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if capped > 0 {
		fmt.Fprintf(env.Stdout, "\nCounts stop above %d (shown as %d+); --exact counts every job.\n", capped, capped)
	}
	procs, err := liveProcesses(ctx, adm)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout)
	if len(procs) == 0 {
		fmt.Fprintf(env.Stdout, "No workers or schedulers have sent a heartbeat in the last %s.\n", liveProcessWindow)
		return nil
	}
	return writeProcesses(env, procs)
}

// liveProcessWindow is how recent a heartbeat must be for `queue stats`
// to count its process as alive: six heartbeats at the default interval.
const liveProcessWindow = 60 * time.Second

// liveProcesses returns the workers and schedulers whose heartbeat is
// recent, by the database clock.
func liveProcesses(ctx context.Context, adm driver.Admin) ([]*driver.Process, error) {
	reg, ok := adm.(driver.Registry)
	if !ok {
		return nil, errors.New("queue stats: this connection keeps no process registry")
	}
	return reg.ProcessList(ctx, &driver.ProcessListParams{StaleAfter: liveProcessWindow})
}

// writeProcesses prints the WORKERS table.
func writeProcesses(env *Env, procs []*driver.Process) error {
	fmt.Fprintln(env.Stdout, "WORKERS")
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tHOST\tPID\tQUEUES\tCONCURRENCY\tRUNNING\tLAST HEARTBEAT")
	for _, p := range procs {
		queues := strings.Join(p.Queues, ",")
		if queues == "" {
			queues = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s ago\n", p.Kind, p.Host, p.PID, queues, p.Concurrency, p.Running, p.Age)
	}
	return tw.Flush()
}

// processJSON is one process as `queue stats --workers` prints it.
type processJSON struct {
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	Queues        []string  `json:"queues"`
	Concurrency   int       `json:"concurrency"`
	Running       int       `json:"running"`
	Jobs          []string  `json:"jobs"`
	StartedAt     time.Time `json:"started_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	AgeSeconds    int64     `json:"age_seconds"`
}

func newProcessJSON(p *driver.Process) processJSON {
	out := processJSON{ID: p.ID, Kind: p.Kind, Host: p.Host, PID: p.PID, Queues: p.Queues, Concurrency: p.Concurrency,
		Running: p.Running, Jobs: p.Jobs, StartedAt: p.StartedAt, LastHeartbeat: p.LastHeartbeat, AgeSeconds: int64(p.Age / time.Second)}
	// Lists print as [] rather than null, whatever the backend returned.
	if out.Queues == nil {
		out.Queues = []string{}
	}
	if out.Jobs == nil {
		out.Jobs = []string{}
	}
	return out
}
