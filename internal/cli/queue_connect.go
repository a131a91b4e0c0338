package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// queueSetups register the application's job workers (mail, bookings, …)
// on every queue client a command opens. Command files add theirs from
// init with addQueueSetup; the built-in kinds noop, sleep and fail are
// always there.
var queueSetups []func(ctx context.Context, env *Env, c *queue.Client) error

// addQueueSetup adds fn to the functions openQueue calls on each new
// client, to add workers with queue.AddWorker(c.Workers(), …).
func addQueueSetup(fn func(ctx context.Context, env *Env, c *queue.Client) error) {
	queueSetups = append(queueSetups, fn)
}

// queueOptions tune openQueue.
type queueOptions struct {
	// Connection overrides QUEUE_CONNECTION ("database", "sync").
	Connection string
	// Logger overrides the logger (LOG_FILE) the engine writes to.
	Logger *slog.Logger
	// NoSetups skips queueSetups: a client that only inserts built-in
	// kinds or signals workers.
	NoSetups bool
	// ServerWarnings prints the queue server's warnings (a Redis without
	// persistence) on stderr as well as in the log: the processes that
	// hold jobs (`queue work`, serve) show them at start.
	ServerWarnings bool
}

// openQueue returns a queue client on the configured connection: the
// database the configuration points at, with the driver of its dialect,
// or the sync connection. Its workers hold the built-in kinds and every
// registered setup's. The database is closed when the command returns.
func openQueue(ctx context.Context, env *Env, o queueOptions) (*queue.Client, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	conn := o.Connection
	if conn == "" {
		conn = cfg.QueueConnection
	}
	logger := o.Logger
	if logger == nil {
		if logger, err = env.Logger(false); err != nil {
			return nil, err
		}
	}
	ws := queue.NewWorkers()
	queue.RegisterBuiltins(ws)
	// Job errors are scrubbed of the configured secrets (and of any
	// password in a URL) before they are stored, on every connection.
	scrub := cfg.Scrubber()
	qc := &queue.Config{
		Workers: ws, Logger: logger, Connection: conn,
		RetryAfter: cfg.DBQueueRetryAfter, Location: cfg.AppTimezone, ScrubError: scrub,
	}
	var d driver.Driver
	// Jobs that fail for good are reported to Slack and Discord by the
	// notifier of this client, bound below once the client exists.
	failures := &notify.JobObserver{}
	switch conn {
	case queue.ConnectionSync:
	case "database", "redis":
		db, err := env.OpenDB(ctx)
		if err != nil {
			return nil, err
		}
		if d, err = app.QueueDriver(ctx, db); err != nil {
			return nil, err
		}
		if conn == "redis" {
			// Jobs live in Redis; the database keeps failed jobs,
			// batches, pauses and the outbox of InsertTx, through its
			// driver.
			if d, err = openRedisQueue(ctx, env, db, d, logger, o.ServerWarnings); err != nil {
				return nil, err
			}
		}
		// The exporter reads queue depth and live processes from the
		// driver itself: the hooked one below need not offer every
		// optional capability.
		metrics := env.Metrics(logger)
		metrics.WatchQueue(d)
		// Pauses, batches, job middleware and per-minute metrics run as
		// hooks around the driver, so every worker on every server honours
		// them. The Prometheus counters watch the same outcomes.
		opsCfg := &queue.OpsConfig{Logger: logger, ScrubError: scrub}
		opsCfg.Observers = append(opsCfg.Observers, metrics.ObserveJob)
		opsCfg.Observers = append(opsCfg.Observers, failures.Observe)
		ops, err := queue.NewOps(d, opsCfg)
		if err != nil {
			return nil, err
		}
		env.onClose(func() { _ = ops.Close(context.Background()) })
		d = queue.WithHooks(d, ops)
	default:
		return nil, usagef("unknown queue connection %q (want database, redis or sync)", conn)
	}
	c, err := queue.NewClient(d, qc)
	if err != nil {
		return nil, err
	}
	if err := bindFailureNotifier(ctx, env, c, failures); err != nil {
		return nil, err
	}
	if !o.NoSetups {
		for _, setup := range queueSetups {
			if err := setup(ctx, env, c); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// durationFlag is a flag holding a duration written as seconds ("90",
// "0.5", as Laravel's flags take them) or as a Go duration ("1m30s",
// "250ms"). set records whether the flag was given.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseSeconds(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}

// parseSeconds parses a non-negative number of seconds or a Go duration.
func parseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if sec, err := strconv.ParseFloat(s, 64); err == nil {
		if sec < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(sec * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration such as 1m30s", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// intFlag is an int flag that records whether it was given.
type intFlag struct {
	n   int
	set bool
}

func (f *intFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.Itoa(f.n)
}

func (f *intFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	f.n, f.set = n, true
	return nil
}

// splitQueues parses a --queue list ("emails,default").
func splitQueues(s string) []string {
	var out []string
	for _, q := range strings.Split(s, ",") {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, q)
		}
	}
	return out
}
