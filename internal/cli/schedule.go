package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/expiry"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/internal/retention"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/driver/tripinredis"
)

// scheduleCommands are the commands of this file; root.go lists every file's.
var scheduleCommands = []*Command{
	{
		Name: "schedule run", Aliases: []string{"schedule:run"}, Usage: "[--time RFC3339] [--json]",
		Summary: "dispatch the scheduled tasks due this minute, then exit (cron: * * * * *)",
		Run:     runScheduleRun,
	},
	{
		Name: "schedule work", Aliases: []string{"schedule:work"}, Usage: "",
		Summary: "run the scheduler in the foreground, ticking on every minute",
		Run:     runScheduleWork,
	},
	{
		Name: "schedule list", Aliases: []string{"schedule:list"}, Usage: "[--json] [--time RFC3339]",
		Summary: "list the scheduled tasks with their next due time",
		Run:     runScheduleList,
	},
	{
		Name: "schedule test", Aliases: []string{"schedule:test"}, Usage: "[--name NAME]",
		Summary: "run one scheduled task now",
		Run:     runScheduleTest,
	},
}

// expireUnpaidBookingsEvent is the name of the expiry sweep's event.
const expireUnpaidBookingsEvent = "expire-unpaid-bookings"

// monitorQueuesEvent is the name of the queue check's event.
const monitorQueuesEvent = "monitor-queues"

// pruneOldRecordsEvent is the name of the retention prune's event.
const pruneOldRecordsEvent = "prune-old-records"

// defaultSchedule is the one place Tripin's scheduled tasks are defined,
// read in APP_TIMEZONE.
func defaultSchedule(cfg *config.Config) (*schedule.Schedule, error) {
	events := []*schedule.Event{
		schedule.Job(expiry.ExpireUnpaidBookings{}).
			EveryFiveMinutes().
			Name(expireUnpaidBookingsEvent).
			WithoutOverlapping().
			OnOneServer(),
		// Every table with a retention (config.Retention) is pruned once
		// an hour, by one server. The overlap lock is freed as soon as the
		// prune's job is gone, on every connection; its expiry, under an
		// hour, only bounds a lock whose job can no longer be seen.
		schedule.Job(retention.PruneOldRecords{}).
			Hourly().
			Name(pruneOldRecordsEvent).
			WithoutOverlapping(retention.OverlapExpiry).
			OnOneServer(),
	}
	return schedule.New(cfg.AppTimezone, append(events, notificationEvents(cfg)...)...)
}

// notificationEvents are the scheduled tasks of the Slack and Discord
// notifications: every minute, one server checks each queue against
// QUEUE_WAIT_THRESHOLDS and QUEUE_MONITOR_MAX. The check's job is unique,
// so checks never pile up behind a stopped worker. There is nothing to
// check without a webhook to tell, nor on the sync connection, which keeps
// no queues.
func notificationEvents(cfg *config.Config) []*schedule.Event {
	if !cfg.NotificationsEnabled() || cfg.QueueConnection == queue.ConnectionSync {
		return nil
	}
	return []*schedule.Event{
		schedule.Job(notify.MonitorQueues{}).EveryMinute().Name(monitorQueuesEvent).OnOneServer(),
	}
}

// newScheduleRunner builds the scheduler that `schedule run`, `schedule
// work`, `schedule test` and serve run: the default schedule, dispatching
// with the application's queue client, with its locks and run log in the
// database.
func newScheduleRunner(a *app.App) (*schedule.Runner, error) {
	s, err := defaultSchedule(a.Config)
	if err != nil {
		return nil, err
	}
	client := a.Queue
	// The scheduler's process row lives in the database whatever the queue
	// connection, so `queue stats` and the dashboard see every scheduler.
	rc := schedule.Config{Schedule: s, DB: a.DB, Logger: a.Logger, Registry: dbdriver.NewRegistry(a.DB.DB)}
	switch client.Connection() {
	case queue.ConnectionSync:
		// The sync connection runs a job inside Insert; inside the lock's
		// transaction it would wait on that transaction forever (SQLite).
		rc.Dispatcher = insertOnly{client}
	case "database":
		rc.Dispatcher = client
	case "redis":
		// InsertTx writes the job to the redis driver's outbox in the
		// lock's transaction, so the job and the lock naming it commit
		// together, as on the database connection; the driver tells
		// whether the job is still in the outbox or in Redis, so the
		// overlap lock is freed on the first tick after the job is gone.
		jobs, ok := a.QueueDriver.(schedule.JobChecker)
		if !ok {
			return nil, fmt.Errorf("schedule: the redis queue driver cannot tell whether a job is still queued")
		}
		rc.Dispatcher, rc.Jobs = client, jobs
	default:
		// A backend the checker cannot see: the overlap lock is freed by
		// its expiry only.
		rc.Dispatcher, rc.NoJobChecker = insertOnly{client}, true
	}
	return schedule.NewRunner(rc)
}

// insertOnly hides a client's InsertTx from the scheduler.
type insertOnly struct{ c *queue.Client }

func (i insertOnly) Insert(ctx context.Context, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error) {
	return i.c.Insert(ctx, args, opts)
}

// parseAt reads a --time flag: empty means now (by the database clock).
func parseAt(s string) (time.Time, bool, error) {
	if s == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, usagef("--time %q: want RFC 3339, like 2026-11-27T10:05:00+07:00", s)
	}
	return t, true, nil
}

type scheduleRunLine struct {
	Event   string    `json:"event"`
	Tick    time.Time `json:"tick"`
	Outcome string    `json:"outcome"`
	JobID   int64     `json:"job_id,omitempty"`
	Error   string    `json:"error,omitempty"`
}

func runScheduleRun(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "schedule run")
	at := fs.String("time", "", "run the tick of this time instead of now (RFC 3339; for recovery and tests)")
	asJSON := fs.Bool("json", false, "print JSON")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("schedule run: unexpected argument %q", rest[0])
	}
	t, ok, err := parseAt(*at)
	if err != nil {
		return err
	}
	r, err := openScheduleRunner(ctx, env, false)
	if err != nil {
		return err
	}
	var results []schedule.Result
	if ok {
		results = r.RunTick(ctx, t)
	} else {
		// A clock that cannot be read skips the tick: cron runs the
		// command again next minute.
		if results, err = r.RunDue(ctx); err != nil {
			return fmt.Errorf("schedule run: %w", err)
		}
	}
	loc := r.Schedule().Location()
	lines := make([]scheduleRunLine, 0, len(results))
	failed := 0
	for _, res := range results {
		l := scheduleRunLine{Event: res.Event, Tick: res.Tick.In(loc), Outcome: string(res.Outcome), JobID: res.JobID}
		if res.Err != nil {
			l.Error = res.Err.Error()
			failed++
		}
		lines = append(lines, l)
	}
	if *asJSON {
		if err := json.NewEncoder(env.Stdout).Encode(lines); err != nil {
			return err
		}
	} else if len(lines) == 0 {
		fmt.Fprintln(env.Stdout, "No scheduled tasks are due to run.")
	} else {
		for _, l := range lines {
			msg := describeOutcome(l)
			fmt.Fprintf(env.Stdout, "%s  %s  %s\n", l.Tick.Format("2006-01-02 15:04 MST"), l.Event, msg)
		}
	}
	if failed > 0 {
		return fmt.Errorf("schedule run: %d of %d due tasks failed", failed, len(lines))
	}
	return nil
}

func describeOutcome(l scheduleRunLine) string {
	switch schedule.Outcome(l.Outcome) {
	case schedule.OutcomeDispatched:
		return fmt.Sprintf("dispatched (job %d)", l.JobID)
	case schedule.OutcomeRan:
		return "ran"
	case schedule.OutcomeOverlapping:
		return "skipped: its previous run has not finished"
	case schedule.OutcomeOtherServer:
		return "skipped: another server took this tick"
	default:
		return "failed: " + l.Error
	}
}

// openScheduleRunner builds the application and its scheduler, logging to
// LOG_FILE (and stdout when logStdout).
func openScheduleRunner(ctx context.Context, env *Env, logStdout bool) (*schedule.Runner, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	// On the sync connection the scheduled jobs run here, and they may
	// expire Snap transactions.
	if err := cfg.RequireMidtrans(); err != nil {
		return nil, err
	}
	logger, err := env.Logger(logStdout)
	if err != nil {
		return nil, err
	}
	a, err := openApp(ctx, env, app.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	return newScheduleRunner(a)
}

func runScheduleWork(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "schedule work")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("schedule work: unexpected argument %q", rest[0])
	}
	r, err := openScheduleRunner(ctx, env, true)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func runScheduleList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "schedule list")
	asJSON := fs.Bool("json", false, "print JSON")
	at := fs.String("time", "", "list as of this time instead of now (RFC 3339)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("schedule list: unexpected argument %q", rest[0])
	}
	now, ok, err := parseAt(*at)
	if err != nil {
		return err
	}
	if !ok {
		now = time.Now()
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	s, err := defaultSchedule(cfg)
	if err != nil {
		return err
	}
	events := s.Describe(now)
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(events)
	}
	return schedule.WriteList(env.Stdout, events, now)
}

func runScheduleTest(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "schedule test")
	name := fs.String("name", "", "the task to run (see schedule list)")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("schedule test: unexpected argument %q", rest[0])
	}
	r, err := openScheduleRunner(ctx, env, true)
	if err != nil {
		return err
	}
	events := r.Schedule().Events()
	if *name == "" {
		if len(events) != 1 {
			names := make([]string, len(events))
			for i, e := range events {
				names[i] = e.EventName()
			}
			return usagef("schedule test: choose a task with --name: %s", strings.Join(names, ", "))
		}
		*name = events[0].EventName()
	}
	if _, ok := r.Schedule().Event(*name); !ok {
		return usagef("schedule test: no task named %q; see 'tripin schedule list'", *name)
	}
	res, err := r.RunNow(ctx, *name)
	if err != nil {
		return err
	}
	l := scheduleRunLine{Event: res.Event, Outcome: string(res.Outcome), JobID: res.JobID}
	if res.Err != nil {
		l.Error = res.Err.Error()
	}
	fmt.Fprintf(env.Stdout, "Running [%s] ... %s\n", res.Event, describeOutcome(l))
	if res.Err != nil {
		return fmt.Errorf("schedule test: %s: %w", res.Event, res.Err)
	}
	return nil
}

// The queue client fits the scheduler and the booking hook.
var (
	_ schedule.Dispatcher   = (*queue.Client)(nil)
	_ schedule.TxDispatcher = (*queue.Client)(nil)
	_ expiry.TxInserter     = (*queue.Client)(nil)
	_ schedule.JobChecker   = (*tripinredis.Driver)(nil)
)
