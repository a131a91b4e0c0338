// Package notify tells operators, through Slack and Discord incoming
// webhooks, about what needs a person: jobs that failed for good, queues
// that hold too many jobs or keep them waiting too long, and payments that
// arrived after their booking had given its seats away.
//
// Events are rows in ops_notifications. Recording one is a single insert,
// inside the caller's transaction when it has one (RecordTx), plus the
// insert of a unique SendOpsNotifications job for the current window. The
// job runs when the window ends and posts one summary per channel of every
// event not yet sent, so a burst of a thousand failures is one job and one
// message per channel, and each channel hears at most once per window.
// Delivery is at least once: a message whose post succeeded but whose
// events could not be stamped is posted again by the job's retry.
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// Queue is the queue of the notification jobs. A queue of their own keeps
// an alert about a backed-up queue from waiting behind that very backlog;
// every worker that should send notifications must take it (serve's
// embedded worker does).
const Queue = "notifications"

// DefaultWindow is the window when Params.Window is zero (NOTIFY_WINDOW's
// default).
const DefaultWindow = time.Minute

// Kind is the kind of an event.
type Kind string

// The kinds of events.
const (
	// KindJobFailed: a job failed for good and went to failed_jobs.
	KindJobFailed Kind = "job_failed"
	// KindQueueBusy: a queue holds more jobs than QUEUE_MONITOR_MAX.
	KindQueueBusy Kind = "queue_busy"
	// KindLongWait: a queue's oldest pending job has waited longer than its
	// QUEUE_WAIT_THRESHOLDS entry.
	KindLongWait Kind = "long_wait"
	// KindLatePayment: a payment arrived after its booking expired and the
	// seats were gone; the booking needs a refund.
	KindLatePayment Kind = "late_payment"
)

// Event is one thing to tell operators. The constructors (JobFailure.Event,
// QueueBusy.Event, LongWait.Event, LatePayment.Event) fill it in; Record
// stores it.
type Event struct {
	Kind Kind
	// Subject says what the event is about ("queue:emails",
	// "booking:TRP-…"); with DedupeWithin it is the dedupe key.
	Subject string
	// Body is one line for people, shown for kinds the summary does not
	// group.
	Body string
	// Details are the event's fields, stored as JSON; the summary reads
	// them by kind.
	Details any
	// DedupeWithin, when positive, drops the event if one with the same
	// Subject was recorded less than this long ago by the database clock,
	// so that a queue that stays over its threshold is not reported on
	// every check.
	DedupeWithin time.Duration

	// noDispatch records the event without inserting the send job: the
	// send job's own failure, which must not start another send that
	// fails the same way.
	noDispatch bool
}

// Params configure a Notifier.
type Params struct {
	// DB holds ops_notifications.
	DB *store.DB
	// Queue inserts the send job (inside the recording transaction). Its
	// driver's cache and locks keep each channel's last message time and
	// make sure one send runs at a time.
	Queue *queue.Client
	// SlackWebhookURL and DiscordWebhookURL are the channels; empty ones
	// are off. With neither, the Notifier records nothing.
	SlackWebhookURL   string
	DiscordWebhookURL string
	// Window is the shortest time between two messages on a channel
	// (NOTIFY_WINDOW, 60s when zero).
	Window time.Duration
	// WaitThresholds are QUEUE_WAIT_THRESHOLDS: per queue ("*" for the
	// others), the longest the oldest pending job may wait; 0 is off.
	WaitThresholds map[string]time.Duration
	// MonitorMax is QUEUE_MONITOR_MAX: the most jobs a queue may hold
	// before it is reported; 0 is off.
	MonitorMax int
	// AppName starts the messages' first line ("Tripin ops"); empty
	// means Tripin.
	AppName string
	// Source names the deployment in the messages' first line
	// ("production · https://tripin.example").
	Source string
	// DashboardURL, when set, ends each message with a link to it.
	DashboardURL string
	// Location is the time zone of times in messages (APP_TIMEZONE).
	Location *time.Location
	// HTTPClient posts to the webhooks; nil means one with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives the notifier's own errors. Nil discards them.
	Logger *slog.Logger
	// Secrets are scrubbed from everything stored or sent (an error
	// message may quote a DSN or a key).
	Secrets []string
	// Backoff overrides the send job's retry backoff (tests shorten it).
	Backoff []time.Duration
	// Now is the application clock that picks an event's window; nil means
	// time.Now. The database clock orders everything else.
	Now func() time.Time
}

// Notifier records events and sends their summaries. It is safe for
// concurrent use.
type Notifier struct {
	db         *store.DB
	q          *queue.Client
	channels   []*channel
	window     time.Duration
	thresholds map[string]time.Duration
	monitorMax int
	appName    string
	source     string
	dashboard  string
	loc        *time.Location
	http       *http.Client
	log        *slog.Logger
	secrets    []string
	backoff    []time.Duration
	now        func() time.Time
}

// New returns a Notifier. DB is required, and Queue too when a channel is
// configured.
func New(p Params) (*Notifier, error) {
	if p.DB == nil {
		return nil, errors.New("notify: DB is required")
	}
	n := &Notifier{
		db: p.DB, q: p.Queue, window: p.Window, thresholds: p.WaitThresholds, monitorMax: p.MonitorMax,
		appName: p.AppName, source: p.Source, dashboard: p.DashboardURL, loc: p.Location, http: p.HTTPClient, log: p.Logger,
		backoff: p.Backoff, now: p.Now,
	}
	if p.SlackWebhookURL != "" {
		n.channels = append(n.channels, slackChannel(p.SlackWebhookURL))
	}
	if p.DiscordWebhookURL != "" {
		n.channels = append(n.channels, discordChannel(p.DiscordWebhookURL))
	}
	if len(n.channels) > 0 && n.q == nil {
		return nil, errors.New("notify: Queue is required when a webhook is configured")
	}
	if n.window <= 0 {
		n.window = DefaultWindow
	}
	if n.loc == nil {
		n.loc = time.UTC
	}
	if n.http == nil {
		n.http = &http.Client{Timeout: 10 * time.Second}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	for _, s := range p.Secrets {
		// Short values would scrub ordinary words out of messages.
		if len(s) >= 4 {
			n.secrets = append(n.secrets, s)
		}
	}
	return n, nil
}

// FromConfig returns the Notifier the configuration describes, recording
// into db and dispatching with q.
func FromConfig(cfg *config.Config, db *store.DB, q *queue.Client, logger *slog.Logger) (*Notifier, error) {
	return New(Params{
		DB: db, Queue: q, Logger: logger,
		SlackWebhookURL: cfg.NotifySlackWebhookURL, DiscordWebhookURL: cfg.NotifyDiscordWebhookURL,
		Window: cfg.NotifyWindow, WaitThresholds: cfg.QueueWaitThresholds, MonitorMax: cfg.QueueMonitorMax,
		AppName: cfg.Name(), Source: cfg.AppEnv + " · " + cfg.AppURL, DashboardURL: cfg.AppURL + "/admin",
		Location: cfg.AppTimezone, Secrets: cfg.Secrets(),
	})
}

// Enabled reports whether a channel is configured. A Notifier without one
// records nothing: there would be nobody to tell, and the table would
// only grow.
func (n *Notifier) Enabled() bool { return n != nil && len(n.channels) > 0 }

// Window returns the shortest time between two messages on a channel.
func (n *Notifier) Window() time.Duration { return n.window }

// Record stores e and makes sure a send job covers it, in one transaction.
// It does nothing when no channel is configured.
func (n *Notifier) Record(ctx context.Context, e Event) error {
	_, err := n.record(ctx, e)
	return err
}

func (n *Notifier) record(ctx context.Context, e Event) (bool, error) {
	if !n.Enabled() {
		return false, nil
	}
	if n.q.Connection() == queue.ConnectionSync {
		// The sync connection runs the send job inside Insert, so it is
		// inserted after the event has committed.
		recorded, err := n.insert(ctx, n.db.DB, e)
		if err != nil || !recorded || e.noDispatch {
			return recorded, err
		}
		if _, err := n.q.Insert(ctx, SendOpsNotifications{}, nil); err != nil {
			// The event is stored; the next one sends it.
			n.log.Warn("notify: send inline", "error", err)
		}
		return true, nil
	}
	var recorded bool
	err := n.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		recorded, err = n.recordTx(ctx, tx, e)
		return err
	})
	return recorded, err
}

// RecordTx stores e inside tx, with the send job that covers it: both
// exist only if tx commits. It does nothing when no channel is configured.
// On the sync connection the event waits for the next Record to be sent,
// since a job run inside tx could not see it.
func (n *Notifier) RecordTx(ctx context.Context, tx *sql.Tx, e Event) error {
	if !n.Enabled() {
		return nil
	}
	if tx == nil {
		return errors.New("notify: record: nil transaction")
	}
	if n.q.Connection() == queue.ConnectionSync {
		_, err := n.insert(ctx, tx, e)
		return err
	}
	_, err := n.recordTx(ctx, tx, e)
	return err
}

func (n *Notifier) recordTx(ctx context.Context, tx *sql.Tx, e Event) (bool, error) {
	recorded, err := n.insert(ctx, tx, e)
	if err != nil || !recorded || e.noDispatch {
		return recorded, err
	}
	if _, err := n.q.InsertTx(ctx, tx, SendOpsNotifications{}, n.sendOpts()); err != nil {
		return false, fmt.Errorf("notify: dispatch %s: %w", e.Kind, err)
	}
	return true, nil
}

// sendKeyPrefix starts the unique key of a window's send job.
const sendKeyPrefix = "ops-notifications:"

// windowGrace delays a window's send job past the window's end, so that
// a server whose clock lags the database's by less than this still puts
// its late events in the next window's job rather than into a job that is
// already running (whose unique key would swallow the insert).
const windowGrace = 2 * time.Second

// sendOpts are the insert options of the send job for an event recorded
// now. Windows are fixed slices of the application clock; each has its
// own unique key, so every event of a window inserts the same job, which
// runs when the window has ended. An event recorded while that job runs
// falls in the next window and gets the next job: none is left behind by
// the unique key of a job already past its read.
func (n *Notifier) sendOpts() *queue.InsertOpts {
	start := n.now().Truncate(n.window)
	return &queue.InsertOpts{
		UniqueKey: sendKeyPrefix + strconv.FormatInt(start.Unix(), 10),
		RunAt:     start.Add(n.window + windowGrace),
		Backoff:   n.backoff,
	}
}

// locks returns the queue's shared locks (the send lock), or nil on a
// connection without them (sync).
func (n *Notifier) locks() driver.Locks {
	if n.q == nil {
		return nil
	}
	l, _ := n.q.Driver().(driver.Locks)
	return l
}

// queues returns the queue's statistics, or nil on a connection that
// keeps no queues (sync).
func (n *Notifier) queues() driver.Queues {
	if n.q == nil {
		return nil
	}
	qs, _ := n.q.Driver().(driver.Queues)
	return qs
}

// scrub replaces the configured secrets in s.
// Passwords inside URLs are masked too, configured or not.
func (n *Notifier) scrub(s string) string { return config.Scrub(s, n.secrets) }
