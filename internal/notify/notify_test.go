package notify_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// hook is an httptest server posing as a Slack or Discord incoming
// webhook. plan answers the nth request (from 1); nil answers 200.
type hook struct {
	*httptest.Server
	field string // "text" for Slack, "content" for Discord

	mu       sync.Mutex
	requests int
	messages []string
	at       []time.Time
	bodies   []map[string]any
}

type answer struct {
	status  int
	headers map[string]string
	body    string
}

func newHook(t *testing.T, field string, plan func(n int) answer) *hook {
	h := &hook{field: field}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.requests++
		n := h.requests
		h.mu.Unlock()
		a := answer{status: http.StatusOK}
		if plan != nil {
			a = plan(n)
		}
		for k, v := range a.headers {
			w.Header().Set(k, v)
		}
		if a.status < 200 || a.status > 299 {
			w.WriteHeader(a.status)
			_, _ = io.WriteString(w, a.body)
			return
		}
		var body map[string]any
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		text, _ := body[h.field].(string)
		h.mu.Lock()
		h.messages = append(h.messages, text)
		h.bodies = append(h.bodies, body)
		h.at = append(h.at, time.Now())
		h.mu.Unlock()
		w.WriteHeader(a.status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.messages...)
}

func (h *hook) requestCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// outcome is one attempt as an Ops observer saw it.
type outcome struct {
	kind, uuid string
	status     queue.OutcomeStatus
	attempts   int
	err        string
}

type outcomes struct {
	mu   sync.Mutex
	list []outcome
}

func (o *outcomes) observe(_ context.Context, row *driver.JobRow, out queue.Outcome) {
	oc := outcome{kind: row.Kind, uuid: row.UUID, status: out.Status, attempts: row.Attempts}
	if out.Err != nil {
		oc.err = out.Err.Error()
	}
	o.mu.Lock()
	o.list = append(o.list, oc)
	o.mu.Unlock()
}

func (o *outcomes) of(kind string) []outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []outcome
	for _, oc := range o.list {
		if oc.kind == kind {
			out = append(out, oc)
		}
	}
	return out
}

// importTours is a job that always fails.
type importTours struct{}

func (importTours) Kind() string { return "ImportTours" }

type fixture struct {
	t        *testing.T
	db       *store.DB
	q        *queue.Client
	n        *notify.Notifier
	slack    *hook
	discord  *hook
	outcomes *outcomes
	logs     *strings.Builder
}

type fixtureOpts struct {
	window      time.Duration
	slackPlan   func(int) answer
	discordPlan func(int) answer
	noWorker    bool
	params      func(*notify.Params)
}

// setup wires a notifier the way the application does (internal/app): it
// dispatches with a client on the bare driver, the Ops observer reports
// failures to it, the notification workers are registered, and a real
// worker takes the default and notifications queues.
func setup(t *testing.T, d store.Dialect, o fixtureOpts) *fixture {
	t.Helper()
	drv, db := storetest.Driver(t, d)
	f := &fixture{t: t, db: db, outcomes: &outcomes{}, logs: &strings.Builder{}}
	f.slack = newHook(t, "text", o.slackPlan)
	f.discord = newHook(t, "content", o.discordPlan)
	ws := queue.NewWorkers()
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inserter, err := queue.NewClient(drv, &queue.Config{Workers: ws, Logger: logger, Location: time.UTC})
	require.NoError(t, err)
	window := o.window
	if window == 0 {
		window = time.Second
	}
	p := notify.Params{
		DB: db, Queue: inserter, SlackWebhookURL: f.slack.URL + "/services/T000/B000/secret", DiscordWebhookURL: f.discord.URL + "/api/webhooks/1/secret",
		Window: window, Backoff: []time.Duration{time.Second}, Source: "testing", Logger: logger,
		WaitThresholds: map[string]time.Duration{"*": 5 * time.Minute}, MonitorMax: 1000,
	}
	if o.params != nil {
		o.params(&p)
	}
	f.n, err = notify.New(p)
	require.NoError(t, err)
	ops, err := queue.NewOps(drv, &queue.OpsConfig{DisableMetrics: true,
		Observers: []func(context.Context, *driver.JobRow, queue.Outcome){f.n.ObserveJob, f.outcomes.observe}})
	require.NoError(t, err)
	f.q, err = queue.NewClient(queue.WithHooks(drv, ops), &queue.Config{Workers: ws, Logger: logger, Location: time.UTC})
	require.NoError(t, err)
	notify.AddWorkers(ws, f.n)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[importTours]) error {
		return errors.New("feed unreachable: 503 from supplier")
	}))
	if !o.noWorker {
		require.NoError(t, f.q.Start(context.Background(), queue.WorkParams{
			Queues: []string{"default", notify.Queue}, Concurrency: 4, Sleep: 200 * time.Millisecond,
			PollInterval: 20 * time.Millisecond, RestartInterval: -1, StopTimeout: 5 * time.Second, Output: io.Discard,
		}))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = f.q.Stop(ctx)
		})
	}
	t.Cleanup(func() {
		_ = ops.Close(context.Background())
		if t.Failed() {
			logMu.Lock()
			t.Logf("log:\n%s", f.logs.String())
			logMu.Unlock()
		}
	})
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.db.QueryRowContext(context.Background(), f.db.Rebind(query), args...).Scan(&n))
	return n
}

// waitMessages waits up to 30s for each hook to have received n messages.
func (f *fixture) waitMessages(n int) {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return len(f.slack.got()) >= n && len(f.discord.got()) >= n }, 30*time.Second, 20*time.Millisecond,
		"want %d messages per channel; slack got %d, discord %d", n, len(f.slack.got()), len(f.discord.got()))
}

// sends waits for the send job's attempts to include one that succeeded,
// and returns them.
func (f *fixture) sends() []outcome {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		for _, oc := range f.outcomes.of("SendOpsNotifications") {
			if oc.status == queue.OutcomeSucceeded {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the send job did not succeed")
	return f.outcomes.of("SendOpsNotifications")
}

// failure records that a job failed for good, as the worker's observer
// reports it.
func (f *fixture) failure(kind, queueName string, i int) {
	f.n.ObserveJob(context.Background(), &driver.JobRow{Kind: kind, Queue: queueName, UUID: "uuid-" + kind + "-" + string(rune('a'+i%26)), Attempts: 3},
		queue.Outcome{Status: queue.OutcomeFailed, Err: errors.New("smtp: 451 try again later")})
}

func TestJobFailedForGoodNotifiesSlackAndDiscordOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{})
		_, err := f.q.Insert(context.Background(), importTours{}, &queue.InsertOpts{Tries: 1})
		require.NoError(t, err)
		f.waitMessages(1)
		for _, msg := range [][]string{f.slack.got(), f.discord.got()} {
			require.Contains(t, msg[0], "1 job failed for good")
			require.Contains(t, msg[0], "1× ImportTours (queue default)")
			require.Contains(t, msg[0], "feed unreachable: 503 from supplier")
		}
		require.Contains(t, f.slack.got()[0], "*Tripin ops*")
		require.Contains(t, f.discord.got()[0], "**Tripin ops**")
		blocks := f.slack.bodies[0]["blocks"].([]any)
		require.Equal(t, f.slack.got()[0], blocks[0].(map[string]any)["text"].(map[string]any)["text"])
		require.Equal(t, map[string]any{"parse": []any{}}, f.discord.bodies[0]["allowed_mentions"])

		// Nothing else is sent: one event, one message per channel.
		time.Sleep(2*f.n.Window() + 3*time.Second)
		require.Len(t, f.slack.got(), 1)
		require.Len(t, f.discord.got(), 1)
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM ops_notifications WHERE kind = 'job_failed' AND sent_at IS NOT NULL"))
		require.Equal(t, 0, f.count("SELECT COUNT(*) FROM jobs"))
	})
}

func TestBurstIsOneJobAndOneMessagePerWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		const window = 5 * time.Second
		f := setup(t, d, fixtureOpts{window: window})
		// Start the burst at the beginning of a window, so that all of it
		// falls in one.
		time.Sleep(time.Until(time.Now().Truncate(window).Add(window + 50*time.Millisecond)))
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					if g < 6 {
						f.failure("SendInvoiceEmail", "emails", i)
					} else {
						f.failure("ExpireBooking", "default", i)
					}
				}
			}()
		}
		wg.Wait()
		require.Less(t, time.Since(start), window, "the burst took longer than a window; the machine is too slow for this test")
		require.Equal(t, 200, f.count("SELECT COUNT(*) FROM ops_notifications"))
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM jobs WHERE kind = 'SendOpsNotifications'"), "200 failures insert one job")

		f.waitMessages(1)
		for _, msg := range []string{f.slack.got()[0], f.discord.got()[0]} {
			require.Contains(t, msg, "200 jobs failed for good: 150× SendInvoiceEmail (queue emails), 50× ExpireBooking (queue default)")
			require.Contains(t, msg, "smtp: 451 try again later")
		}
		require.Eventually(t, func() bool {
			return f.count("SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NOT NULL") == 200
		}, 10*time.Second, 20*time.Millisecond, "events marked sent")
		require.Len(t, f.sends(), 1, "one send job, one attempt")

		// A second burst, after the first message, is the next window's
		// message, a window or more after the first.
		for i := range 5 {
			f.failure("SendETicketEmail", "emails", i)
		}
		f.waitMessages(2)
		require.Contains(t, f.slack.got()[1], "5 jobs failed for good: 5× SendETicketEmail (queue emails)")
		require.Contains(t, f.discord.got()[1], "5 jobs failed for good: 5× SendETicketEmail (queue emails)")
		require.NotContains(t, f.slack.got()[1], "SendInvoiceEmail")
		for _, h := range []*hook{f.slack, f.discord} {
			h.mu.Lock()
			gap := h.at[1].Sub(h.at[0])
			h.mu.Unlock()
			require.GreaterOrEqual(t, gap, window-time.Second, "two messages on one channel within a window")
		}
		require.Eventually(t, func() bool {
			return f.count("SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NULL") == 0
		}, 10*time.Second, 20*time.Millisecond, "second burst marked sent")
	})
}

func TestWebhookErrorIsRetriedWithoutLosingEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{slackPlan: func(n int) answer {
			if n == 1 {
				return answer{status: http.StatusInternalServerError, body: "internal_error"}
			}
			return answer{status: http.StatusOK}
		}})
		f.failure("SendInvoiceEmail", "emails", 0)
		f.waitMessages(1)
		require.Contains(t, f.slack.got()[0], "1× SendInvoiceEmail (queue emails)")
		require.Equal(t, 2, f.slack.requestCount(), "slack: a failed post, then the retry")
		require.Equal(t, 1, f.discord.requestCount(), "discord already had the message: the retry does not post it again")

		sends := f.sends()
		require.Len(t, sends, 2)
		require.Equal(t, queue.OutcomeRetried, sends[0].status)
		require.Contains(t, sends[0].err, "slack webhook answered 500: internal_error")
		require.NotContains(t, sends[0].err, "secret", "the webhook URL is a secret")
		require.Eventually(t, func() bool {
			return f.count("SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NOT NULL") == 1
		}, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, 0, f.count("SELECT COUNT(*) FROM failed_jobs"))
	})
}

func TestWebhookRateLimitSnoozes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{discordPlan: func(n int) answer {
			if n == 1 {
				return answer{status: http.StatusTooManyRequests, headers: map[string]string{"Retry-After": "1"},
					body: `{"message": "You are being rate limited.", "retry_after": 1.0, "global": false}`}
			}
			return answer{status: http.StatusNoContent}
		}})
		f.failure("SendInvoiceEmail", "emails", 0)
		f.waitMessages(1)
		require.Equal(t, 2, f.discord.requestCount())
		require.Equal(t, 1, f.slack.requestCount())
		sends := f.sends()
		require.Len(t, sends, 2)
		require.Equal(t, queue.OutcomeReleased, sends[0].status, "a 429 snoozes the job")
		last := sends[len(sends)-1]
		require.Equal(t, queue.OutcomeSucceeded, last.status)
		require.Equal(t, 1, last.attempts, "a snooze does not use an attempt")
	})
}

func TestSendJobFailureDoesNotFeedItself(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{noWorker: true, window: time.Minute})
		for range 3 {
			f.failure("SendOpsNotifications", notify.Queue, 0)
		}
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM ops_notifications WHERE kind = 'job_failed'"), "at most one event")
		require.Equal(t, 0, f.count("SELECT COUNT(*) FROM jobs"), "and no send job of its own")
		// The next event's message carries it.
		f.failure("SendInvoiceEmail", "emails", 0)
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM jobs WHERE kind = 'SendOpsNotifications'"))
	})
}

func TestCheckQueuesRecordsLongWaitsAndBusyQueues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{noWorker: true, window: time.Minute, params: func(p *notify.Params) {
			p.WaitThresholds = map[string]time.Duration{"emails": time.Minute, "*": 5 * time.Minute}
			p.MonitorMax = 2
		}})
		ctx := context.Background()
		old := time.Now().Add(-10 * time.Minute)
		for range 3 {
			_, err := f.q.Insert(ctx, queue.NoopArgs{}, &queue.InsertOpts{Queue: "emails", RunAt: old})
			require.NoError(t, err)
		}
		// default: waiting, but under its threshold (the "*" one).
		_, err := f.q.Insert(ctx, queue.NoopArgs{}, &queue.InsertOpts{Queue: "default", RunAt: time.Now().Add(-2 * time.Minute)})
		require.NoError(t, err)

		n, err := f.n.CheckQueues(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		rows, err := f.db.QueryContext(ctx, "SELECT kind, subject, details FROM ops_notifications ORDER BY id")
		require.NoError(t, err)
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var kind, subject, details string
			require.NoError(t, rows.Scan(&kind, &subject, &details))
			got[kind+" "+subject] = details
		}
		require.NoError(t, rows.Err())
		require.Len(t, got, 2, "%v", got)
		var w notify.LongWait
		require.NoError(t, json.Unmarshal([]byte(got["long_wait long_wait:emails"]), &w))
		require.Equal(t, "emails", w.Queue)
		require.InDelta(t, 600, w.WaitSeconds, 30)
		require.EqualValues(t, 60, w.ThresholdSeconds)
		require.Equal(t, 3, w.Size)
		var b notify.QueueBusy
		require.NoError(t, json.Unmarshal([]byte(got["queue_busy queue_busy:emails"]), &b))
		require.Equal(t, notify.QueueBusy{Queue: "emails", Size: 3, Max: 2}, b)

		// Still over a moment later: not recorded again within the window.
		n, err = f.n.CheckQueues(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, n)
		require.Equal(t, 2, f.count("SELECT COUNT(*) FROM ops_notifications"))
		// One send job covers both.
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM jobs WHERE kind = 'SendOpsNotifications'"))
	})
}

func TestLongWaitAndLatePaymentMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{})
		ctx := context.Background()
		require.NoError(t, f.n.Record(ctx, notify.LatePayment{BookingID: 7, Code: "TRP-7K2M9Q", Amount: 1500000, Status: "expired", TransactionID: "tx-1"}.Event()))
		require.NoError(t, f.n.Record(ctx, notify.LongWait{Queue: "emails", WaitSeconds: 420, ThresholdSeconds: 120, Size: 40}.Event(time.Minute)))
		f.n.RecordQueueBusy(ctx, notify.QueueBusy{Queue: "default", Size: 1520, Max: 1000})
		f.waitMessages(1)
		for _, msg := range []string{f.slack.got()[0], f.discord.got()[0]} {
			require.Contains(t, msg, "1 late payment to refund, 1 queue waiting too long, 1 queue too busy")
			require.Contains(t, msg, "1 late payment needs a refund: TRP-7K2M9Q (Rp1.500.000, booking expired)")
			require.Contains(t, msg, "Oldest wait on emails is 7m (threshold 2m; 40 jobs in the queue)")
			require.Contains(t, msg, "Queue default holds 1520 jobs (threshold 1000)")
		}
		// A replayed payment notification does not report the booking twice.
		require.NoError(t, f.n.Record(ctx, notify.LatePayment{BookingID: 7, Code: "TRP-7K2M9Q", Amount: 1500000, Status: "expired"}.Event()))
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM ops_notifications WHERE kind = 'late_payment'"))
	})
}

func TestRecordTxCommitsWithTheCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{noWorker: true, window: time.Minute})
		ctx := context.Background()
		ev := notify.LatePayment{BookingID: 9, Code: "TRP-ROLLBK", Amount: 100000, Status: "expired"}.Event()
		boom := errors.New("rolled back")
		err := f.db.InTx(ctx, func(tx *sql.Tx) error {
			require.NoError(t, f.n.RecordTx(ctx, tx, ev))
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Equal(t, 0, f.count("SELECT COUNT(*) FROM ops_notifications"))
		require.Equal(t, 0, f.count("SELECT COUNT(*) FROM jobs"))

		require.NoError(t, f.db.InTx(ctx, func(tx *sql.Tx) error { return f.n.RecordTx(ctx, tx, ev) }))
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM ops_notifications"))
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM jobs WHERE kind = 'SendOpsNotifications' AND queue = ?", notify.Queue))
	})
}

func TestWithoutChannelsNothingIsRecordedAndLeftoversAreSkipped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, fixtureOpts{noWorker: true, window: time.Minute})
		ctx := context.Background()
		// Events recorded while a webhook was configured…
		f.failure("SendInvoiceEmail", "emails", 0)
		// …and a process started without any.
		off, err := notify.New(notify.Params{DB: f.db, Queue: f.q})
		require.NoError(t, err)
		require.False(t, off.Enabled())
		off.ObserveJob(ctx, &driver.JobRow{Kind: "X", Queue: "default"}, queue.Outcome{Status: queue.OutcomeFailed})
		require.NoError(t, off.Record(ctx, notify.LatePayment{Code: "TRP-NOHOOK"}.Event()))
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM ops_notifications"))
		require.NoError(t, off.Send(ctx, "test"))
		require.Equal(t, 1, f.count("SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NOT NULL AND slack_sent_at IS NULL"))
	})
}

func TestMessageIsBoundedAndTheRestFollowsAWindowLater(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		// Long enough that a loaded machine still sends the second message
		// inside the window.
		const window = 8 * time.Second
		f := setup(t, d, fixtureOpts{noWorker: true, window: window})
		ctx := context.Background()
		for i := range 505 {
			f.failure("SendInvoiceEmail", "emails", i)
		}
		err := f.n.Send(ctx, "first")
		wait, snoozed := queue.IsSnooze(err)
		require.True(t, snoozed, "more events are left: %v", err)
		require.Equal(t, window, wait)
		for _, msg := range []string{f.slack.got()[0], f.discord.got()[0]} {
			require.Contains(t, msg, "500 jobs failed for good")
			require.Contains(t, msg, "5 more events follow in the next message")
		}
		require.Equal(t, 500, f.count("SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NOT NULL"))

		// Too soon: both channels are held back for the rest of the window.
		err = f.n.Send(ctx, "second")
		wait, snoozed = queue.IsSnooze(err)
		require.True(t, snoozed, "%v", err)
		require.Greater(t, wait, time.Duration(0))
		require.LessOrEqual(t, wait, window)
		require.Len(t, f.slack.got(), 1)

		time.Sleep(wait)
		require.NoError(t, f.n.Send(ctx, "third"))
		require.Len(t, f.slack.got(), 2)
		require.Len(t, f.discord.got(), 2)
		require.Contains(t, f.discord.got()[1], "5 jobs failed for good")
		require.Equal(t, 0, f.count("SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NULL"))
	})
}
