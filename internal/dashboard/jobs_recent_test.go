package dashboard_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
)

// tagPayload is a payload as the engine writes it, with tags and a secret
// among the args.
func tagPayload(id, kind string, tags ...string) string {
	b, _ := json.Marshal(map[string]any{
		"uuid": id, "displayName": kind, "job": kind, "maxTries": 3, "tags": tags,
		"data": map[string]any{"booking_id": 42, "api_token": "trp_leaked_token"},
	})
	return string(b)
}

// addWaiting inserts a job waiting in the jobs table, available now or
// after delay.
func (h *harness) addWaiting(kind, queueName string, delay time.Duration, tags ...string) string {
	h.t.Helper()
	id := uuid.NewString()
	now := time.Now().Unix()
	_, err := h.db.ExecContext(context.Background(), h.db.Rebind(
		`INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts) VALUES (?, ?, 0, ?, ?, ?, ?, 3)`),
		queueName, tagPayload(id, kind, tags...), now+int64(delay.Seconds()), now, id, kind)
	require.NoError(h.t, err)
	return id
}

// addCompleted keeps a completed job as the worker's recorder does.
func (h *harness) addCompleted(kind string, tags ...string) string {
	h.t.Helper()
	id := uuid.NewString()
	now := time.Now()
	require.NoError(h.t, h.adm.CompletedRecord(context.Background(), []*driver.CompletedJob{{
		UUID: id, Queue: "emails", Kind: kind, Attempts: 2, RuntimeMS: 1500, WaitMS: 250, JobID: 77,
		Payload: []byte(tagPayload(id, kind, tags...)), QueuedAt: now.Add(-time.Minute), AvailableAt: now.Add(-time.Minute),
		StartedAt: now.Add(-30 * time.Second),
	}}))
	return id
}

// addFailedTagged stores a failed job with tags.
func (h *harness) addFailedTagged(kind, exception string, tags ...string) string {
	h.t.Helper()
	id := uuid.NewString()
	_, err := h.db.ExecContext(context.Background(), h.db.Rebind(
		`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception) VALUES (?, 'database', 'emails', ?, ?)`),
		id, tagPayload(id, kind, tags...), exception)
	require.NoError(h.t, err)
	return id
}

var rowUUID = regexp.MustCompile(`<tr data-uuid="([0-9a-f-]{36})" data-state="([a-z]+)"`)

// listed returns the uuids (and their states) of a recent-jobs page.
func listed(body string) map[string]string {
	out := map[string]string{}
	for _, m := range rowUUID.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestRecentJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		invoice := h.addWaiting("SendInvoiceEmail", "emails", 0, "booking:42", "booking:TRP-42", "user:7")
		expiry := h.addWaiting("ExpireBooking", "default", time.Hour, "booking:42")
		other := h.addWaiting("SendInvoiceEmail", "emails", 0, "booking:420")
		ticket := h.addCompleted("SendETicketEmail", "booking:42")
		failed := h.addFailedTagged("NotifySlack", "slack: 500 from hooks.slack.com", "booking:42")

		w := h.do("GET", "/admin/recent", nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		require.Contains(t, body, `href="/admin/recent" class="on"`, "the nav marks the page")
		require.Equal(t, map[string]string{invoice: "pending", expiry: "delayed", other: "pending", ticket: "completed", failed: "failed"}, listed(body))

		w = h.do("GET", "/admin/recent?tag=booking:42", nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, map[string]string{invoice: "pending", expiry: "delayed", ticket: "completed", failed: "failed"}, listed(w.Body.String()),
			"every job of the booking, in every state, and not booking:420's")
		require.Contains(t, w.Body.String(), `Monitor booking:42`)

		for query, want := range map[string]map[string]string{
			"state=completed":             {ticket: "completed"},
			"state=delayed":               {expiry: "delayed"},
			"queue=emails&state=pending":  {invoice: "pending", other: "pending"},
			"kind=NotifySlack":            {failed: "failed"},
			"tag=user:7&since=1h":         {invoice: "pending"},
			"tag=booking:42&state=failed": {failed: "failed"},
			"tag=nobody":                  {},
		} {
			w = h.do("GET", "/admin/recent?"+query, nil, c)
			require.Equal(t, http.StatusOK, w.Code, query)
			require.Equal(t, want, listed(w.Body.String()), query)
		}
		w = h.do("GET", "/admin/recent?tag="+url.QueryEscape(`a"b`), nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), `class="notice error-panel"`, "a tag that cannot be one is explained, not a 500")

		// Monitoring a tag is a CSRF-protected action.
		w = h.do("POST", "/admin/tags/monitor", url.Values{"tag": {"booking:42"}}, c)
		require.Equal(t, http.StatusForbidden, w.Code)
		w = h.do("POST", "/admin/tags/monitor", url.Values{"_csrf": {h.csrf(c)}, "tag": {"booking:42"}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		w = h.do("GET", "/admin/recent?tag=booking:42", nil, c)
		require.Contains(t, w.Body.String(), "Stop monitoring booking:42")
		require.Contains(t, w.Body.String(), "<h2>Monitored tags</h2>")
		tags, err := h.adm.(driver.TagMonitor).TagMonitorList(context.Background())
		require.NoError(t, err)
		require.Equal(t, []string{"booking:42"}, tags)
	})
}

func TestRecentJobsKeysetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		all := map[string]bool{}
		for range 56 {
			all[h.addWaiting("Bulk", "bulk", 0, "bulk")] = true
		}
		for range 4 {
			all[h.addCompleted("Bulk", "bulk")] = true
		}
		seen := map[string]bool{}
		next := "/admin/recent?tag=bulk"
		pages := 0
		older := regexp.MustCompile(`href="([^"]+)" id="older"`)
		for next != "" {
			pages++
			w := h.do("GET", next, nil, c)
			require.Equal(t, http.StatusOK, w.Code)
			for id := range listed(w.Body.String()) {
				require.False(t, seen[id], "job %s listed twice", id)
				seen[id] = true
			}
			next = ""
			if m := older.FindStringSubmatch(w.Body.String()); m != nil {
				next = strings.ReplaceAll(m[1], "&amp;", "&")
				require.Contains(t, next, "after=", "the next page is a keyset cursor, not an offset")
			}
			require.LessOrEqual(t, pages, 3)
		}
		require.Equal(t, 2, pages, "60 jobs are two pages of 50")
		require.Equal(t, all, seen)
	})
}

func TestJobShow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		ticket := h.addCompleted("SendETicketEmail", "booking:42", "user:7")
		w := h.do("GET", "/admin/recent/"+ticket, nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		require.Contains(t, body, `id="job-state">completed<`)
		require.Contains(t, body, "booking:42")
		require.Contains(t, body, "every job of this booking")
		require.Contains(t, body, "<dt>Waited</dt><dd>250 ms</dd>")
		require.Contains(t, body, "<dt>Ran</dt><dd>1.5 s</dd>")
		require.Contains(t, body, "<dt>Attempts</dt><dd>2")
		require.Contains(t, body, "&#34;booking_id&#34;: 42", "the payload is shown")
		require.NotContains(t, body, "trp_leaked_token", "secrets in the payload are masked")

		failed := h.addFailedTagged("NotifySlack", "slack: 500\nnotify: send: slack: 500", "booking:42")
		w = h.do("GET", "/admin/recent/"+failed, nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), `id="job-state">failed<`)
		require.Contains(t, w.Body.String(), "notify: send: slack: 500")
		require.Contains(t, w.Body.String(), `/failed/`+h.failedID(failed)+`/retry"`)

		pending := h.addWaiting("SendInvoiceEmail", "emails", 0, "booking:42")
		page := h.do("GET", "/admin/recent?state=pending", nil, c).Body.String()
		link := regexp.MustCompile(`href="(/admin/recent/` + pending + `\?id=\d+)"`).FindStringSubmatch(page)
		require.NotNil(t, link, "a waiting job links to its page by uuid and id")
		w = h.do("GET", link[1], nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), `id="job-state">pending<`)

		w = h.do("GET", "/admin/recent/"+uuid.NewString(), nil, c)
		require.Equal(t, http.StatusNotFound, w.Code)
		w = h.do("GET", "/admin/recent/not-a-uuid", nil, c)
		require.Equal(t, http.StatusNotFound, w.Code)
	})
}

func TestFailedSearchRetryAndForgetSelection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		smtp1 := h.addFailedTagged("SendInvoiceEmail", "smtp: 550 mailbox unavailable", "booking:1")
		smtp2 := h.addFailedTagged("SendInvoiceEmail", "smtp: 550 mailbox unavailable", "booking:2")
		smtp3 := h.addFailedTagged("SendInvoiceEmail", "smtp: 421 try later", "booking:3")
		slack := h.addFailedTagged("NotifySlack", "slack: 500", "booking:1")

		w := h.do("GET", "/admin/failed/search?error=550+mailbox", nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		for _, id := range []string{smtp1, smtp2} {
			require.Contains(t, body, `name="uuid" value="`+id+`"`)
		}
		require.NotContains(t, body, smtp3)
		require.NotContains(t, body, slack)
		w = h.do("GET", "/admin/failed/search?tag=booking:1", nil, c)
		require.Contains(t, w.Body.String(), smtp1)
		require.Contains(t, w.Body.String(), slack)
		require.NotContains(t, w.Body.String(), smtp2)
		w = h.do("GET", "/admin/failed/search?kind=NotifySlack&queue=emails", nil, c)
		require.Contains(t, w.Body.String(), slack)
		require.NotContains(t, w.Body.String(), smtp1)

		back := "/admin/failed/search?error=550+mailbox"
		w = h.do("POST", "/admin/failed/selected", url.Values{"do": {"retry"}, "uuid": {smtp1, smtp2}, "back": {back}}, c)
		require.Equal(t, http.StatusForbidden, w.Code, "no CSRF token, no retry")
		require.Equal(t, 4, h.failedCount())

		tok := h.csrf(c)
		w = h.do("POST", "/admin/failed/selected", url.Values{"_csrf": {tok}, "do": {"retry"}, "uuid": {smtp1, smtp2}, "back": {back}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, back+"&done=retried-selected", w.Header().Get("Location"))
		require.Equal(t, 2, h.failedCount(), "the two selected jobs left failed_jobs")
		var waiting int
		require.NoError(t, h.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM jobs").Scan(&waiting))
		require.Equal(t, 2, waiting, "and are back in the queue")

		w = h.do("POST", "/admin/failed/selected", url.Values{"_csrf": {tok}, "do": {"forget"}, "uuid": {smtp3}, "back": {"https://evil.example/"}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/failed/search?done=forgotten-selected", w.Header().Get("Location"), "back stays on the dashboard")
		require.Equal(t, 1, h.failedCount())

		w = h.do("POST", "/admin/failed/selected", url.Values{"_csrf": {tok}, "do": {"retry"}, "back": {back}}, c)
		require.Equal(t, back+"&done=none-selected", w.Header().Get("Location"))
	})
}

func TestBatchRetryFailed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		ctx := context.Background()
		_, err := h.adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: "b-1", Name: "tickets", TotalJobs: 3})
		require.NoError(t, err)
		f1 := h.addFailedTagged("SendETicketEmail", "smtp: 550")
		f2 := h.addFailedTagged("SendETicketEmail", "smtp: 550")
		h.addFailedTagged("SendETicketEmail", "smtp: 550") // not of the batch
		_, err = h.db.ExecContext(ctx, h.db.Rebind(`UPDATE job_batches SET failed_jobs = 2, failed_job_ids = ? WHERE id = 'b-1'`), `["`+f1+`","`+f2+`"]`)
		require.NoError(t, err)

		w := h.do("GET", "/admin/batches", nil, c)
		require.Contains(t, w.Body.String(), `action="/admin/batches/b-1/retry-failed"`)
		w = h.do("POST", "/admin/batches/b-1/retry-failed", url.Values{"_csrf": {h.csrf(c)}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/batches?done=batch-retried", w.Header().Get("Location"))
		require.Equal(t, 1, h.failedCount(), "the batch's two failed jobs were retried, the other stays")
		w = h.do("POST", "/admin/batches/nope/retry-failed", url.Values{"_csrf": {h.csrf(c)}}, c)
		require.Equal(t, http.StatusNotFound, w.Code)
	})
}

// TestRecentJobsByBookingCode: a booking's code finds every job of the
// booking, the e-ticket job too, which is tagged by the booking's id only.
func TestRecentJobsByBookingCode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		tour := &booking.Tour{Title: "Bromo", Destination: "East Java", DepartureDate: now.AddDate(0, 1, 0).Format(time.DateOnly), Price: 750000, Capacity: 10, Quota: 10}
		require.NoError(t, h.db.TourCreate(ctx, tour))
		b := &booking.Booking{Code: "TRP-CODE42", UserID: h.customer.ID, TourID: tour.ID, Quantity: 1, UnitPrice: 750000, TotalAmount: 750000,
			Status: booking.StatusPending, ExpiresAt: now.Add(30 * time.Minute), CreatedAt: now, UpdatedAt: now}
		require.NoError(t, h.db.InTx(ctx, func(tx *sql.Tx) error { return h.db.BookingInsertTx(ctx, tx, b) }))

		invoice := h.addWaiting("SendInvoiceEmail", "emails", 0, b.JobTags()...)
		ticket := h.addCompleted("SendETicketEmail", booking.JobTag(b.ID))
		h.addWaiting("SendInvoiceEmail", "emails", 0, "booking:999999")
		for _, tag := range []string{"TRP-CODE42", "booking:TRP-CODE42", booking.JobTag(b.ID)} {
			w := h.do("GET", "/admin/recent?tag="+url.QueryEscape(tag), nil, c)
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, map[string]string{invoice: "pending", ticket: "completed"}, listed(w.Body.String()), tag)
		}
		w := h.do("GET", "/admin/recent?tag=TRP-CODE42", nil, c)
		require.Contains(t, w.Body.String(), "Every job of booking <strong>TRP-CODE42</strong>")

		w = h.do("GET", "/admin/recent/"+ticket, nil, c)
		require.Contains(t, w.Body.String(), "<strong>TRP-CODE42</strong> · pending", "the job's page names its booking")
	})
}

// adminOnly hides every optional capability of an Admin, as the redis
// connection's hooked driver hides the monitored tags.
type adminOnly struct{ driver.Admin }

// TestMonitorTagBehindAHookedDriver: the monitored tags are in the
// database on every backend, so a driver that does not offer them still
// lets the operator monitor a tag.
func TestMonitorTagBehindAHookedDriver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		hidden := adminOnly{h.adm}
		h.dash = dashboard.New(dashboard.Params{DB: h.db, Admin: hidden, Driver: hidden, Accounts: h.accounts, DefaultMaxAttempts: 3})
		c := h.session(h.admin)
		w := h.do("POST", "/admin/tags/monitor", url.Values{"_csrf": {h.csrf(c)}, "tag": {"tour:3"}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		tags, err := h.adm.(driver.TagMonitor).TagMonitorList(context.Background())
		require.NoError(t, err)
		require.Equal(t, []string{"tour:3"}, tags)
	})
}

func TestJobPagesShowEachAttemptsError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		at := time.Date(2026, 12, 7, 3, 4, 5, 0, time.UTC).Unix()
		log := driver.AppendErrorLog(nil, driver.AttemptError{Attempt: 1, At: at, Error: "smtp: 421 greylisted"})
		log = driver.AppendErrorLog(log, driver.AttemptError{Attempt: 2, At: at + 60, Error: "smtp: 550 mailbox full"})

		failed := h.addFailedTagged("SendInvoiceEmail", "smtp: 550 mailbox full", "booking:42")
		_, err := h.db.ExecContext(context.Background(), h.db.Rebind(`UPDATE failed_jobs SET error_log = ? WHERE uuid = ?`), string(log), failed)
		require.NoError(t, err)
		for _, path := range []string{"/admin/recent/" + failed, "/admin/failed/" + h.failedID(failed)} {
			w := h.do("GET", path, nil, c)
			require.Equal(t, http.StatusOK, w.Code, path)
			body := w.Body.String()
			require.Contains(t, body, `id="attempts"`, path)
			one, two := strings.Index(body, "<strong>Attempt 1</strong>"), strings.Index(body, "<strong>Attempt 2</strong>")
			require.True(t, one > 0 && two > one, "%s lists attempts 1 and 2, oldest first", path)
			require.Contains(t, body, "smtp: 421 greylisted", path)
			require.NotContains(t, body, "earlier ones are no longer kept", path)
		}

		ok := h.addCompleted("SendETicketEmail", "booking:42")
		w := h.do("GET", "/admin/recent/"+ok, nil, c)
		require.NotContains(t, w.Body.String(), `id="attempts"`, "a job that never failed has no attempts panel")
		kept := h.addCompleted("SendETicketEmail", "booking:42")
		cut := driver.AppendErrorLog(nil, driver.AttemptError{Attempt: 4, At: at, Error: "dial tcp: connection refused"})
		_, err = h.db.ExecContext(context.Background(), h.db.Rebind(`UPDATE completed_jobs SET error_log = ? WHERE uuid = ?`), string(cut), kept)
		require.NoError(t, err)
		body := h.do("GET", "/admin/recent/"+kept, nil, c).Body.String()
		require.Contains(t, body, "<strong>Attempt 4</strong>")
		require.Contains(t, body, "dial tcp: connection refused")
		require.Contains(t, body, "earlier ones are no longer kept")
	})
}

// TestJobPagesMaskSecretsInAttempts: an attempt's error that holds a
// configured secret (written before the worker knew it, or by another
// process) shows masked on both pages of the failed job.
// TestJobPagesMaskSecretsInAttempts checks the error log and the failed
// job's exception are masked on both pages that show them.
func TestJobPagesMaskSecretsInAttempts(t *testing.T) {
	const secret = "smtp-pass-7Qx9"
	h := newHarnessWith(t, store.SQLite, map[string]string{"MAIL_PASSWORD": secret})
	c := h.session(h.admin)
	log := driver.AppendErrorLog(nil, driver.AttemptError{Attempt: 1, At: 1, Error: "smtp: auth as ops:" + secret + " refused"})
	failed := h.addFailedTagged("SendInvoiceEmail", "smtp: 535 authentication failed for "+secret, "booking:42")
	_, err := h.db.ExecContext(context.Background(), h.db.Rebind(`UPDATE failed_jobs SET error_log = ? WHERE uuid = ?`), string(log), failed)
	require.NoError(t, err)
	for _, path := range []string{"/admin/recent/" + failed, "/admin/failed/" + h.failedID(failed)} {
		body := h.do("GET", path, nil, c).Body.String()
		require.Contains(t, body, "smtp: auth as ops:", path)
		require.NotContains(t, body, secret, path)
	}
}
