package retention_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/retention"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

const day = 24 * time.Hour

// fixture is a database holding, for every table with a retention, rows
// on both sides of its default retention, each named by a marker column
// so that the test can tell which ones a prune kept.
type fixture struct {
	t   *testing.T
	ctx context.Context
	db  *store.DB
	adm driver.Admin
	now time.Time // the database clock when the rows were written
}

func newFixture(t *testing.T, d store.Dialect) *fixture {
	db := storetest.Open(t, d)
	now, err := db.Now(context.Background())
	require.NoError(t, err)
	return &fixture{t: t, ctx: context.Background(), db: db, adm: dbdriver.NewAdmin(db.DB), now: now}
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	_, err := f.db.ExecContext(f.ctx, f.db.Rebind(q), args...)
	require.NoError(f.t, err, q)
}

// markers returns the marker column of every row of table, sorted.
func (f *fixture) markers(table, col string) []string {
	f.t.Helper()
	rows, err := f.db.QueryContext(f.ctx, "SELECT "+col+" FROM "+table)
	require.NoError(f.t, err)
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		require.NoError(f.t, rows.Scan(&s))
		out = append(out, strings.TrimSpace(s))
	}
	require.NoError(f.t, rows.Err())
	sort.Strings(out)
	return out
}

// ago is the database clock minus d.
func (f *fixture) ago(d time.Duration) time.Time {
	return f.now.Add(-d).UTC().Truncate(time.Microsecond)
}

// seed writes the rows. Each name says whether the default retention
// keeps it.
func (f *fixture) seed() {
	t, ctx, db := f.t, f.ctx, f.db

	// Bookings and their idempotency keys (24 h): a pending booking keeps
	// its key whatever its age.
	u := &booking.User{Name: "Ayu", Email: "ayu@example.com", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
	require.NoError(t, db.UserCreate(ctx, u))
	tour := &booking.Tour{Title: "Komodo", Destination: "Labuan Bajo", DepartureDate: "2035-01-01", Price: 100,
		Capacity: 50, Quota: 50, CreatedAt: f.now, UpdatedAt: f.now}
	require.NoError(t, db.TourCreate(ctx, tour))
	// Bookings take their times from the database clock: they are aged
	// in SQL, with their idempotency keys.
	book := func(at time.Time, key string) *booking.Booking {
		svc := booking.NewService(booking.ServiceParams{Store: db, Expiry: 30 * time.Minute})
		res, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 1, IdempotencyKey: key, RequestHash: key})
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, db.Rebind("UPDATE bookings SET created_at = ?, updated_at = ? WHERE id = ?"), at, at, res.Booking.ID)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, db.Rebind("UPDATE idempotency_keys SET created_at = ? WHERE idem_key = ?"), at, key)
		require.NoError(t, err)
		return res.Booking
	}
	book(f.ago(3*day), "kept-old-pending")
	cancelled := book(f.ago(3*day), "gone-old-cancelled")
	svc := booking.NewService(booking.ServiceParams{Store: db, Expiry: 30 * time.Minute})
	_, err := svc.Cancel(ctx, u, cancelled.ID)
	require.NoError(t, err)
	book(f.ago(time.Hour), "kept-recent")
	// A refused request stores its answer without a booking.
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		return db.IdempotencyInsertTx(ctx, tx, &booking.IdempotencyRecord{UserID: u.ID, Key: "gone-old-refused",
			RequestHash: "h", StatusCode: 409, Body: []byte(`{}`), CreatedAt: f.ago(2 * day)})
	}))

	// Sent emails (90 days).
	sent := mail.NewSentStore(db)
	for kind, at := range map[string]time.Time{"gone-91d": f.ago(91 * day), "kept-80d": f.ago(80 * day), "kept-now": f.now} {
		require.NoError(t, sent.RecordSent(ctx, nil, &mail.SentEmail{BookingID: 1, Kind: kind, MessageID: "<m>", Recipient: "a@b.c", SentAt: at}))
	}

	// Payment notifications: accepted ones 365 days, rejected ones 3.
	for _, n := range []struct {
		order   string
		outcome any
		age     time.Duration
	}{
		{"gone-bad-signature-4d", "bad_signature", 4 * day},
		{"gone-unknown-order-8d", "unknown_order", 8 * day},
		{"gone-malformed-8d", "malformed", 8 * day},
		{"gone-amount-mismatch-8d", "amount_mismatch", 8 * day},
		{"gone-status-mismatch-8d", "status_mismatch", 8 * day},
		{"gone-unknown-transaction-4d", "unknown_transaction", 4 * day},
		{"kept-bad-signature-2d", "bad_signature", 2 * day},
		{"kept-paid-300d", "paid", 300 * day},
		{"kept-error-8d", "error", 8 * day},
		{"kept-status-check-8d", "status_check_failed", 8 * day},
		{"gone-paid-366d", "paid", 366 * day},
		{"gone-no-outcome-366d", nil, 366 * day},
	} {
		f.exec(`INSERT INTO payment_notifications (order_id, outcome, payload, received_at, signature_valid) VALUES (?, ?, '{}', ?, ?)`,
			n.order, n.outcome, f.ago(n.age), n.outcome != "bad_signature")
	}

	// Ops notifications (30 days after they were sent); unsent ones stay.
	for _, n := range []struct {
		subject string
		created time.Duration
		sent    any
	}{
		{"gone-sent-31d", 32 * day, f.ago(31 * day).Unix()},
		{"kept-sent-29d", 32 * day, f.ago(29 * day).Unix()},
		{"kept-unsent-60d", 60 * day, nil},
	} {
		f.exec(`INSERT INTO ops_notifications (kind, subject, body, details, created_at, sent_at) VALUES ('job_failed', ?, 'b', '{}', ?, ?)`,
			n.subject, f.ago(n.created).Unix(), n.sent)
	}

	// Schedule runs (30 days); each task's latest run stays.
	runs := schedule.NewRunLog(db)
	for _, r := range []struct {
		host, name string
		age        time.Duration
	}{
		{"gone-hourly-40d", "hourly", 40 * day}, {"gone-hourly-31d", "hourly", 31 * day}, {"kept-hourly-1h", "hourly", time.Hour},
		{"gone-monthly-90d", "monthly", 90 * day}, {"kept-monthly-45d", "monthly", 45 * day},
	} {
		at := f.ago(r.age)
		require.NoError(t, runs.Record(ctx, schedule.Run{Name: r.name, Tick: at, StartedAt: at, FinishedAt: at, Outcome: schedule.OutcomeRan, Host: r.host}))
	}

	// Tokens (24 hours after they expired); tokens without an expiry stay.
	for name, exp := range map[string]*time.Time{
		"gone-expired-2d": ptr(f.ago(2 * day)), "kept-expired-1h": ptr(f.ago(time.Hour)),
		"kept-valid": ptr(f.now.Add(day)), "kept-no-expiry": nil,
	} {
		hash := strings.Repeat("0", 64-len(name)) + name
		require.NoError(t, db.TokenCreate(ctx, u.ID, name, hash, f.ago(10*day), time.Time{}))
		if exp != nil {
			require.NoError(t, db.TokenExpireAt(ctx, hash, *exp))
		}
	}

	// Failed jobs (168 hours).
	for id, age := range map[string]time.Duration{"gone-8d": 8 * day, "kept-6d": 6 * day} {
		var at any = f.ago(age)
		if db.Dialect == store.SQLite {
			at = f.ago(age).Format(time.DateTime) // as the queue driver writes it
		}
		f.exec(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at) VALUES (?, 'database', 'default', '{}', 'boom', ?)`, id, at)
	}

	// Batches (finished 168 hours ago; unfinished ones after three times that).
	for id, b := range map[string]struct {
		created  time.Duration
		finished any
	}{
		"gone-finished-8d": {9 * day, f.ago(8 * day).Unix()}, "kept-finished-6d": {9 * day, f.ago(6 * day).Unix()},
		"kept-running-9d": {9 * day, nil}, "gone-running-22d": {22 * day, nil},
	} {
		_, err := f.adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: id, Name: id, TotalJobs: 1})
		require.NoError(t, err)
		f.exec(`UPDATE job_batches SET created_at = ?, finished_at = ? WHERE id = ?`, f.ago(b.created).Unix(), b.finished, id)
	}

	// Completed jobs (QUEUE_KEEP_COMPLETED, an hour) and metrics (30 days),
	// several per chunk.
	var done []*driver.CompletedJob
	for i := range 5 {
		done = append(done, &driver.CompletedJob{UUID: fmt.Sprintf("gone-%d", i), Queue: "q", Kind: "k", CompletedAt: f.ago(2*time.Hour + time.Duration(i)*time.Minute)},
			&driver.CompletedJob{UUID: fmt.Sprintf("kept-%d", i), Queue: "q", Kind: "k", CompletedAt: f.ago(50 * time.Minute)})
	}
	require.NoError(t, f.adm.CompletedRecord(ctx, done))
	var points []*driver.JobMetric
	for i := range 5 {
		for _, q := range []string{"default", "emails", "notifications"} {
			points = append(points, &driver.JobMetric{Queue: "gone-" + q, Minute: f.ago(31*day + time.Duration(i)*time.Minute), Processed: 1},
				&driver.JobMetric{Queue: "kept-" + q, Minute: f.ago(29*day + time.Duration(i)*time.Minute), Processed: 1})
		}
	}
	require.NoError(t, f.adm.JobMetricsRecord(ctx, points))
	// Job class metrics (30 days, as the queues'); the kept ones are
	// younger than a day, so that none is rolled up into hours.
	var classes []*driver.JobClassMetric
	for i := range 3 {
		classes = append(classes, &driver.JobClassMetric{Kind: fmt.Sprint("gone-", i), Queue: "q", Start: f.ago(31 * day), Processed: 1},
			&driver.JobClassMetric{Kind: fmt.Sprint("kept-", i), Queue: "q", Start: f.ago(time.Hour), Processed: 1})
	}
	require.NoError(t, f.adm.JobClassMetricsRecord(ctx, classes))

	// Limiter windows (60 minutes after they ended); a row written before
	// windows had an end is kept, its period unknown.
	for name, end := range map[string]*int64{
		"gone-ended-2h": ptr(f.now.Unix() - 7200), "kept-ended-30m": ptr(f.now.Unix() - 1800),
		"kept-current": ptr(f.now.Unix() + 30), "kept-legacy": nil,
	} {
		f.exec(`INSERT INTO queue_rate_limits (name, window_start, hits, expires_at) VALUES (?, 0, 1, ?)`, name, end)
	}

	// Processes (60 minutes after their last heartbeat).
	reg := f.adm.(driver.Registry)
	for id, age := range map[string]time.Duration{"gone-dead-2h": 2 * time.Hour, "kept-alive": 0} {
		require.NoError(t, reg.ProcessHeartbeat(ctx, &driver.Process{ID: id, Kind: driver.ProcessWorker, Host: "h", PID: 1}))
		f.exec(`UPDATE queue_processes SET last_heartbeat = last_heartbeat - ? WHERE id = ?`, int64(age/time.Second), id)
	}
}

// tables are the marker columns of every table the fixture fills.
var tables = map[string]string{
	"idempotency_keys": "idem_key", "sent_emails": "kind", "payment_notifications": "COALESCE(order_id, '')",
	"ops_notifications": "subject", "schedule_runs": "host", "personal_access_tokens": "name",
	"failed_jobs": "uuid", "job_batches": "id", "completed_jobs": "uuid", "job_metrics": "queue", "job_class_metrics": "kind",
	"queue_processes": "id", "queue_rate_limits": "name",
}

// kept filters markers to those the default retention keeps.
func kept(markers []string) []string {
	out := []string{}
	for _, m := range markers {
		if !strings.HasPrefix(m, "gone-") {
			out = append(out, m)
		}
	}
	return out
}

func defaults(t *testing.T) config.Retention {
	cfg, err := config.FromMap(map[string]string{})
	require.NoError(t, err)
	return cfg.Retention
}

func TestPruneKeepsWhatIsWithinRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		f.seed()
		before := map[string][]string{}
		for table, col := range tables {
			before[table] = f.markers(table, col)
			require.NotEqual(t, kept(before[table]), before[table], "%s: the fixture has rows to prune", table)
		}
		var logs bytes.Buffer
		r := defaults(t)
		r.ChunkSize = 2 // several chunks per table
		// Each table is reported as soon as it is done: when the first
		// app table and the first queue table are, the last table
		// (job_metrics) still holds its old rows.
		var seen []retention.Result
		metricsLeft := map[string]int{}
		onTable := func(r retention.Result) {
			seen = append(seen, r)
			metricsLeft[r.Table] = len(f.markers("job_metrics", tables["job_metrics"])) - len(kept(before["job_metrics"]))
		}
		p, err := retention.New(retention.Params{DB: f.db, Retention: r, Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnTable: onTable})
		require.NoError(t, err)
		rep, err := p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.False(t, rep.Stopped)
		require.Equal(t, rep.Results, seen)
		require.Equal(t, "idempotency_keys", seen[0].Table)
		require.Positive(t, metricsLeft["idempotency_keys"])
		require.Positive(t, metricsLeft["failed_jobs"])
		require.Zero(t, metricsLeft["job_metrics"])

		var pruned int64
		for table, col := range tables {
			after := f.markers(table, col)
			require.Equal(t, kept(before[table]), after, table)
			pruned += int64(len(before[table]) - len(after))
		}
		require.Equal(t, pruned, rep.Rows, "the report counts every row deleted")
		// The schedule runs kept are the recent one and each task's latest,
		// however old.
		require.Equal(t, []string{"kept-hourly-1h", "kept-monthly-45d"}, f.markers("schedule_runs", "host"))

		// What went is logged per table at info.
		require.Contains(t, logs.String(), `level=INFO msg="retention: pruned" table=idempotency_keys rows=2`)
		require.Contains(t, logs.String(), `table="payment_notifications (rejected)" rows=6`)
		require.Contains(t, logs.String(), `table=job_metrics rows=15`)
		require.NotContains(t, logs.String(), "level=WARN")

		// A second run finds nothing.
		rep, err = p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.Zero(t, rep.Rows)
	})
}

func TestPruneZeroKeepsForever(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		f.seed()
		before := map[string][]string{}
		for table, col := range tables {
			before[table] = f.markers(table, col)
		}
		p, err := retention.New(retention.Params{DB: f.db, Retention: config.Retention{}})
		require.NoError(t, err)
		rep, err := p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.Zero(t, rep.Rows)
		require.Empty(t, rep.Results, "no table has a retention")
		for table, col := range tables {
			require.Equal(t, before[table], f.markers(table, col), table)
		}
	})
}

// TestPruneTableFailureDoesNotStopOthers: a table whose prune fails is
// reported and logged at warn; every other table is pruned.
func TestPruneTableFailureDoesNotStopOthers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		f.seed()
		f.exec("DROP TABLE sent_emails")
		var logs bytes.Buffer
		p, err := retention.New(retention.Params{DB: f.db, Retention: defaults(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		rep, err := p.PruneOnce(f.ctx)
		require.Error(t, err)
		require.Contains(t, err.Error(), "sent_emails")
		require.Contains(t, logs.String(), `level=WARN msg="retention: prune failed" table=sent_emails`)
		var failed []string
		for _, r := range rep.Results {
			if r.Err != nil {
				failed = append(failed, r.Table)
			}
		}
		require.Equal(t, []string{"sent_emails"}, failed)
		for table, col := range tables {
			if table != "sent_emails" {
				require.Empty(t, slicesWithPrefix(f.markers(table, col), "gone-"), table)
			}
		}
	})
}

// TestPruneStopsAtItsBudget: a run whose budget is spent stops, keeps
// what it deleted, and is not an error; the next run carries on.
func TestPruneStopsAtItsBudget(t *testing.T) {
	f := newFixture(t, store.SQLite)
	f.seed()
	p, err := retention.New(retention.Params{DB: f.db, Retention: defaults(t), Budget: time.Nanosecond})
	require.NoError(t, err)
	rep, err := p.PruneOnce(f.ctx)
	require.NoError(t, err)
	require.True(t, rep.Stopped)
	require.NotEmpty(t, slicesWithPrefix(f.markers("completed_jobs", "uuid"), "gone-"))

	p, err = retention.New(retention.Params{DB: f.db, Retention: defaults(t)})
	require.NoError(t, err)
	rep, err = p.PruneOnce(f.ctx)
	require.NoError(t, err)
	require.False(t, rep.Stopped)
	require.Empty(t, slicesWithPrefix(f.markers("completed_jobs", "uuid"), "gone-"))
}

// TestPruneDeletesLargeBacklogsInChunks: thousands of old metric points
// and completed jobs, more than a chunk, all go and the new ones stay.
func TestPruneDeletesLargeBacklogsInChunks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		const n = 2500
		var points []*driver.JobMetric
		var done []*driver.CompletedJob
		for i := range n {
			at := f.ago(40*day + time.Duration(i)*time.Minute)
			points = append(points, &driver.JobMetric{Queue: fmt.Sprintf("q%d", i%3), Minute: at, Processed: 1})
			done = append(done, &driver.CompletedJob{UUID: fmt.Sprint(i), Queue: "q", Kind: "k", CompletedAt: at})
		}
		points = append(points, &driver.JobMetric{Queue: "new", Minute: f.now, Processed: 1})
		done = append(done, &driver.CompletedJob{UUID: "new", Queue: "q", Kind: "k", CompletedAt: f.now})
		require.NoError(t, f.adm.JobMetricsRecord(f.ctx, points))
		require.NoError(t, f.adm.CompletedRecord(f.ctx, done))
		r := config.Retention{JobMetrics: 30 * day, CompletedJobs: day, ChunkSize: 1000}
		p, err := retention.New(retention.Params{DB: f.db, Retention: r})
		require.NoError(t, err)
		rep, err := p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.Equal(t, int64(2*n), rep.Rows)
		require.Equal(t, []string{"new"}, f.markers("job_metrics", "queue"))
		require.Equal(t, []string{"new"}, f.markers("completed_jobs", "uuid"))
	})
}

// TestPruneRollsClassMetricsUpIntoHours: the minutes of job classes older
// than a day become one point per hour, class and queue, and the recent
// minutes stay; with metrics kept forever, minutes stay minutes.
func TestPruneRollsClassMetricsUpIntoHours(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		hour := f.ago(3 * day).Truncate(time.Hour)
		var points []*driver.JobClassMetric
		for i := range 3 {
			points = append(points, &driver.JobClassMetric{Kind: "SendInvoice", Queue: "emails", Start: hour.Add(time.Duration(i) * time.Minute), Processed: 2, WaitMS: 10})
		}
		points = append(points, &driver.JobClassMetric{Kind: "SendInvoice", Queue: "emails", Start: f.ago(time.Hour), Processed: 1})
		require.NoError(t, f.adm.JobClassMetricsRecord(f.ctx, points))
		count := func() int {
			var n int
			require.NoError(t, f.db.QueryRowContext(f.ctx, "SELECT COUNT(*) FROM job_class_metrics").Scan(&n))
			return n
		}

		p, err := retention.New(retention.Params{DB: f.db, Retention: config.Retention{}})
		require.NoError(t, err)
		_, err = p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.Equal(t, 4, count(), "metrics kept forever stay minutes")

		p, err = retention.New(retention.Params{DB: f.db, Retention: config.Retention{JobMetrics: 30 * day}})
		require.NoError(t, err)
		rep, err := p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.Equal(t, int64(3), rep.Rows, "the three old minutes")
		got, err := f.adm.JobClassMetricsList(f.ctx, &driver.JobClassMetricsListParams{Kind: "SendInvoice"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, time.Hour, got[0].Span)
		require.True(t, got[0].Start.Equal(hour), "the hour starts at %v, want %v", got[0].Start, hour)
		require.Equal(t, 6, got[0].Processed)
		require.Equal(t, int64(30), got[0].WaitMS)
		require.Equal(t, time.Minute, got[1].Span)
	})
}

func slicesWithPrefix(in []string, prefix string) []string {
	var out []string
	for _, s := range in {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// TestPruneTokensWithoutExpiry: with the token lifetime given, a token
// issued before tokens had an expiry goes once the lifetime and the
// expired-token retention have passed since its creation; a younger one,
// and every token with an expiry, follow their own rule.
func TestPruneTokensWithoutExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		u := &booking.User{Name: "T", Email: "t@example.com", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
		require.NoError(t, f.db.UserCreate(f.ctx, u))
		for name, tok := range map[string]struct {
			created time.Duration
			expires *time.Time
		}{
			"gone-legacy-10d":     {created: 10 * day},
			"kept-legacy-7d12h":   {created: 7*day + 12*time.Hour},
			"kept-legacy-1d":      {created: day},
			"kept-expiring-later": {created: 30 * day, expires: ptr(f.now.Add(day))},
		} {
			var exp time.Time
			if tok.expires != nil {
				exp = *tok.expires
			}
			hash := strings.Repeat("0", 64-len(name)) + name
			require.NoError(t, f.db.TokenCreate(f.ctx, u.ID, name, hash, f.ago(tok.created), exp))
		}
		r := config.Retention{ExpiredTokens: day}
		p, err := retention.New(retention.Params{DB: f.db, Retention: r, TokenTTL: 7 * day})
		require.NoError(t, err)
		rep, err := p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, rep.Rows)
		require.Equal(t, []string{"kept-expiring-later", "kept-legacy-1d", "kept-legacy-7d12h"}, f.markers("personal_access_tokens", "name"))

		// Without the lifetime, tokens without an expiry are left alone.
		f.exec("DELETE FROM personal_access_tokens")
		require.NoError(t, f.db.TokenCreate(f.ctx, u.ID, "kept-legacy-90d", strings.Repeat("1", 64), f.ago(90*day), time.Time{}))
		p, err = retention.New(retention.Params{DB: f.db, Retention: r})
		require.NoError(t, err)
		_, err = p.PruneOnce(f.ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"kept-legacy-90d"}, f.markers("personal_access_tokens", "name"))
	})
}
