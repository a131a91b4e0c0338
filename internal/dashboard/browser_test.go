package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/browsertest"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

// screenshotsEnv, set to 1, makes the browser test write its screenshots
// into docs/screenshots instead of a temporary directory.
const screenshotsEnv = "TRIPIN_UPDATE_SCREENSHOTS"

// flakyReport is a job that fails until its service comes back. Its
// api_token shows that the dashboard masks secrets in payloads (real
// jobs keep none in their args).
type flakyReport struct {
	Report   string `json:"report"`
	APIToken string `json:"api_token"`
}

func (flakyReport) Kind() string { return "FlakyReport" }

// browserApp is the whole server a browser talks to: the API with the
// dashboard mounted, on a migrated SQLite database, with a queue client
// whose worker starts on demand.
type browserApp struct {
	srv      *httptest.Server
	db       *store.DB
	client   *queue.Client
	adm      *tripinsqlite.Driver
	up       atomic.Bool  // whether the flaky job's service is up
	reported atomic.Int32 // flaky jobs that succeeded
}

func newBrowserApp(t *testing.T, opts ...func(*dashboard.Params)) *browserApp {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing"})
	require.NoError(t, err)
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost})
	_, err = accounts.CreateUser(ctx, booking.NewUser{Name: "Ops", Email: "ops@example.com", Password: testPassword, IsAdmin: true})
	require.NoError(t, err)

	app := &browserApp{db: db}
	d := tripinsqlite.New(db.DB, tripinsqlite.Options{})
	app.adm = d
	ops, err := queue.NewOps(d, &queue.OpsConfig{MetricsFlush: 200 * time.Millisecond, PauseRefresh: 100 * time.Millisecond, KeepCompleted: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ops.Close(context.Background()) })
	ws := queue.NewWorkers()
	queue.RegisterBuiltins(ws)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[flakyReport]) error {
		if !app.up.Load() {
			return errors.New("flaky report: reports service unavailable: dial tcp 10.0.0.9:443: connection refused")
		}
		app.reported.Add(1)
		return nil
	}))
	app.client, err = queue.NewClient(queue.WithHooks(d, ops), &queue.Config{Workers: ws, Connection: "database"})
	require.NoError(t, err)

	sched, err := schedule.New(cfg.AppTimezone,
		schedule.Func("prune-reports", func(context.Context) error { return nil }).Hourly().WithoutOverlapping())
	require.NoError(t, err)
	params := dashboard.Params{
		DB: db, Admin: d, Driver: d, Accounts: accounts, Schedule: sched, Runs: schedule.NewRunLog(db),
		Config: cfg, Queues: []string{"default", "emails"}, DefaultMaxAttempts: queue.DefaultTries,
	}
	for _, o := range opts {
		o(&params)
	}
	dash := dashboard.New(params)
	api := httpapi.New(httpapi.Params{
		Config: cfg, DB: db, Accounts: accounts,
		Mount: func(mux *http.ServeMux, _ *httpapi.Server) { dash.Mount(mux) },
	})
	app.srv = httptest.NewServer(api)
	t.Cleanup(app.srv.Close)
	return app
}

func (a *browserApp) startWorker(t *testing.T) {
	t.Helper()
	require.NoError(t, a.client.Start(context.Background(), queue.WorkParams{
		Queues: []string{"default", "emails"}, Concurrency: 4, PollInterval: 20 * time.Millisecond,
		Sleep: 100 * time.Millisecond, Output: io.Discard,
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.client.Stop(ctx)
	})
}

// tab drives one browser tab against the app.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// screenshotsDir is where a browser test writes its screenshots:
// docs/screenshots under screenshotsEnv=1, else a temporary directory.
func screenshotsDir(t *testing.T) string {
	t.Helper()
	if os.Getenv(screenshotsEnv) != "1" {
		return t.TempDir()
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// refreshTimerJS runs in every document before the page's own script.
// It hands the refresh script's timer to the test: the page registers its
// interval (window.refreshEvery, in ms) and its tick (window.refreshTick),
// but the tick runs only when the test calls refreshTick(), so a page
// never reloads in the middle of a step on a slow machine. A tab whose
// sessionStorage says realRefreshTimer=1 runs the browser's own timer.
const refreshTimerJS = `(function () {
  var real = window.setInterval;
  window.setInterval = function (fn, ms) {
    window.refreshEvery = ms;
    window.refreshTick = fn;
    var useReal = false;
    try { useReal = sessionStorage.getItem("realRefreshTimer") === "1"; } catch (e) {}
    return useReal ? real.call(window, fn, ms) : 0;
  };
})();`

// newTab drives a tab of the browser of ctx against base. Its pages
// reload only when the test calls refreshTick (see refreshTimerJS).
func newTab(t *testing.T, ctx context.Context, base string) *tab {
	t.Helper()
	b := &tab{t: t, ctx: ctx, base: base}
	b.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: refreshTimerJS})
		return err
	}))
	return b
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// eval runs a JavaScript expression in the page.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err, js)
	return v
}

func (b *tab) text(css string) string {
	b.t.Helper()
	return strings.TrimSpace(eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {textContent: "<missing>"}).textContent`, css)))
}

func (b *tab) path() string {
	b.t.Helper()
	return eval[string](b, `location.pathname + location.search`)
}

// eventually reloads path until cond holds, as an operator watching the
// page would.
func (b *tab) eventually(path string, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A reload can be aborted by the browser (net::ERR_ABORTED) when
		// it overlaps the page's own navigation; the next try reloads.
		err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+path))
		if err == nil && cond() {
			return
		}
		if time.Now().After(deadline) {
			require.NoError(b.t, err, "%s: loading %s", what, path)
			b.t.Fatalf("%s: not seen on %s within 20s; the page says:\n%s", what, path, b.text("main"))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// clickAndWait clicks a button that submits a form (or a link) and waits
// for the page it leads to: a new document, not the old one, which may
// hold waitFor too.
func (b *tab) clickAndWait(css, waitFor string) {
	b.t.Helper()
	eval[bool](b, `(window.tripinOldPage = true)`)
	b.do(chromedp.Click(chromedp.CSS(css)))
	require.Eventually(b.t, func() bool {
		old, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.tripinOldPage === true`))
		return err == nil && !old
	}, 20*time.Second, 20*time.Millisecond, "clicking %s loaded no page", css)
	b.do(chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

func (b *tab) screenshot(dir, name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	b.t.Logf("screenshot: %s", filepath.Join(dir, name))
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	browsertest.Chromium(t) // skips without a browser, before any setup
	app := newBrowserApp(t)

	shots := screenshotsDir(t)

	ctx := browsertest.New(t, 1360, 900, 3*time.Minute)
	b := newTab(t, ctx, app.srv.URL)
	bg := context.Background()

	// Without a login the dashboard sends the browser to the login form.
	b.open("/admin/failed")
	b.do(chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	require.Equal(t, "/admin/login?next=%2Fadmin%2Ffailed", b.path())
	b.screenshot(shots, "dashboard-login.png")

	// A wrong password is refused on the form.
	b.do(
		chromedp.SendKeys(chromedp.CSS(`#email`), "ops@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "not the password"),
	)
	b.clickAndWait(`button[type="submit"]`, `.alert`)
	require.Contains(t, b.text(".alert"), "do not match")

	// Log in; the form brings the browser back where it was going.
	b.do(chromedp.SetValue(chromedp.CSS(`#password`), testPassword))
	b.clickAndWait(`button[type="submit"]`, `table#failed`)
	require.Equal(t, "/admin/failed", b.path())
	require.Contains(t, b.text("table#failed"), "No failed jobs")

	// The overview lists the configured queues, empty.
	b.open("/admin")
	b.do(chromedp.WaitVisible(chromedp.CSS(`table#queues`)))
	pending := `tr[data-queue="default"] td.pending`
	require.Equal(t, "0", b.text(pending))

	// Jobs pushed while no worker runs wait on their queue.
	for range 5 {
		_, err := app.client.Insert(bg, queue.NoopArgs{}, nil)
		require.NoError(t, err)
	}
	b.eventually("/admin", "5 pending jobs", func() bool { return b.text(pending) == "5" })

	// Pause the queue from the dashboard: a worker leaves it alone.
	b.clickAndWait(`form[action="/admin/queues/default/pause"] button`, `.notice`)
	require.Contains(t, b.text(".notice"), "paused")
	require.Contains(t, b.text(`tr[data-queue="default"]`), "paused")
	require.Equal(t, "1", b.text("#tile-paused"))
	app.startWorker(t)
	time.Sleep(500 * time.Millisecond)
	b.open("/admin")
	require.Equal(t, "5", b.text(pending), "a paused queue is not worked")

	// Resume it, and watch the worker drain it.
	b.clickAndWait(`form[action="/admin/queues/default/resume"] button`, `.notice`)
	require.Contains(t, b.text(".notice"), "resumed")
	b.eventually("/admin", "the queue drained", func() bool { return b.text(pending) == "0" })

	// Jobs that fail for good land in failed jobs: the flaky report, and
	// two emails whose mailbox does not exist.
	_, err := app.client.Insert(bg, flakyReport{Report: "daily-sales", APIToken: "trp_do_not_show_me"}, &queue.InsertOpts{Tries: 1})
	require.NoError(t, err)
	for range 2 {
		_, err = app.client.Insert(bg, queue.FailArgs{Message: "smtp: 550 5.1.1 <ghost@example.com>: mailbox unavailable"},
			&queue.InsertOpts{Queue: "emails", Tries: 1})
		require.NoError(t, err)
	}
	flaky, mails := `table#failed tr[data-job="FlakyReport"]`, `table#failed tr[data-job="fail"]`
	b.eventually("/admin/failed", "the failed jobs", func() bool {
		return eval[int](b, `document.querySelectorAll('table#failed tbody tr[data-job]').length`) == 3
	})
	require.Contains(t, b.text(flaky), "connection refused")
	require.Contains(t, b.text(mails), "mailbox unavailable")
	b.screenshot(shots, "dashboard-failed.png")

	// The overview counts them, and its charts have the minute's jobs
	// once the metrics are written.
	b.eventually("/admin", "the overview's figures", func() bool {
		return b.text("#tile-failed") == "3" && b.text("#tile-hour") == "8"
	})
	b.screenshot(shots, "dashboard-overview.png")

	// The Metrics page has them per job class and per queue; a class's
	// link narrows the figures and charts to it, and the window tabs keep
	// that choice.
	b.eventually("/admin/metrics", "the metrics of every job class", func() bool {
		return b.text("#tile-jobs") == "8" && eval[int](b, `document.querySelectorAll('table#classes tbody tr[data-job]').length`) == 3
	})
	require.Equal(t, "37.5 %", b.text("#tile-failure-rate"))
	require.Contains(t, b.text(`table#queues tr[data-queue="emails"]`), "100.0 %")
	b.screenshot(shots, "dashboard-metrics.png")
	b.clickAndWait(`table#classes tr[data-job="FlakyReport"] a`, `table#classes tr.on[data-job="FlakyReport"]`)
	require.Equal(t, "/admin/metrics?window=1h&job=FlakyReport", b.path())
	require.Equal(t, "1", b.text("#tile-jobs"))
	b.clickAndWait(`#windows a:last-child`, `#windows a.on:last-child`)
	require.Equal(t, "/admin/metrics?window=7d&job=FlakyReport", b.path())
	require.Equal(t, "1", b.text("#tile-jobs"))

	// The failed job's page shows its error and its payload, masked.
	b.open("/admin/failed")
	b.clickAndWait(flaky+` a.job`, `#payload`)
	payload := b.text("#payload")
	require.Contains(t, payload, "daily-sales")
	require.Contains(t, payload, "********")
	require.NotContains(t, payload, "trp_do_not_show_me")
	require.Contains(t, b.text("#exception"), "connection refused")
	b.screenshot(shots, "dashboard-failed-job.png")

	// A forged CSRF token is refused and changes nothing.
	b.open("/admin/failed")
	b.do(chromedp.SetValue(chromedp.CSS(flaky+` form[action$="/retry"] input[name="_csrf"]`), "forged-token"))
	b.clickAndWait(flaky+` form[action$="/retry"] button`, `.error-panel`)
	require.Equal(t, "403", b.text(".error-panel .status"))
	require.Contains(t, b.text(".error-panel"), "Nothing was changed")
	n, err := app.adm.FailedCount(bg, "")
	require.NoError(t, err)
	require.Equal(t, 3, n)

	// Forget the emails, one button at a time.
	for want := 2; want > 0; want-- {
		b.open("/admin/failed")
		b.clickAndWait(mails+` form[action$="/forget"] button`, `.notice`)
		require.Contains(t, b.text(".notice"), "deleted")
		n, err := app.adm.FailedCount(bg, "emails")
		require.NoError(t, err)
		require.Equal(t, want-1, n)
	}

	// The service is back: Retry, and the job succeeds.
	app.up.Store(true)
	b.open("/admin/failed")
	b.clickAndWait(flaky+` form[action$="/retry"] button`, `.notice`)
	require.Contains(t, b.text(".notice"), "pushed back")
	b.eventually("/admin/failed", "the failed list empty", func() bool {
		return strings.Contains(b.text("table#failed"), "No failed jobs")
	})
	require.Eventually(t, func() bool { return app.reported.Load() == 1 }, 10*time.Second, 20*time.Millisecond)
	b.eventually("/admin", "the job completed", func() bool {
		return b.text(pending) == "0" && b.text(`tr[data-queue="default"] td.reserved`) == "0"
	})

	// A booking's jobs, tagged booking:99, in every state: one done, one
	// failed for good, one waiting for its hour. The Recent jobs page
	// finds them all by the tag.
	tagged := &queue.InsertOpts{Tags: []string{"booking:99", "user:5"}}
	_, err = app.client.Insert(bg, queue.NoopArgs{}, tagged)
	require.NoError(t, err)
	_, err = app.client.Insert(bg, queue.FailArgs{Message: "smtp: 550 5.1.1 <ghost@example.com>: mailbox unavailable"},
		&queue.InsertOpts{Queue: "emails", Tries: 1, Tags: []string{"booking:99"}})
	require.NoError(t, err)
	_, err = app.client.Insert(bg, queue.NoopArgs{}, &queue.InsertOpts{Delay: time.Hour, Tags: []string{"booking:99"}})
	require.NoError(t, err)
	_, err = app.client.Insert(bg, queue.NoopArgs{}, &queue.InsertOpts{Tags: []string{"booking:990"}})
	require.NoError(t, err)
	states := func() string {
		return eval[string](b, `Array.from(document.querySelectorAll('table#recent tbody tr[data-state]')).map(r => r.dataset.state).sort().join(",")`)
	}
	b.eventually("/admin/recent", "the recent jobs", func() bool { return strings.Contains(states(), "completed") })
	b.do(chromedp.SetValue(chromedp.CSS(`#recent-filters input[name="tag"]`), "booking:99"))
	b.clickAndWait(`#recent-filters button[type="submit"]`, `table#recent`)
	b.eventually(b.path(), "booking:99's jobs in every state", func() bool { return states() == "completed,delayed,failed" })
	require.Contains(t, b.text("h1"), "tagged booking:99")
	b.screenshot(shots, "dashboard-recent.png")

	// The completed job's page: its tags, times and the booking's jobs.
	b.clickAndWait(`table#recent tr[data-state="completed"] a.job`, `#job-facts`)
	require.Equal(t, "completed", b.text("#job-state"))
	require.Contains(t, b.text("#job-tags"), "booking:99")
	require.Contains(t, b.text("#job-tags"), "user:5")
	require.Contains(t, b.text("#job-facts"), "Queued")
	require.Contains(t, b.text("#job-booking"), "every job of this booking")
	b.screenshot(shots, "dashboard-job.png")

	// Search the failed jobs by error text and tag, tick the one found and
	// retry the selection.
	b.open("/admin/failed")
	b.clickAndWait(`#search-failed`, `#failed-filters`)
	b.do(chromedp.SetValue(chromedp.CSS(`#failed-filters input[name="error"]`), "mailbox unavailable"),
		chromedp.SetValue(chromedp.CSS(`#failed-filters input[name="tag"]`), "booking:99"))
	b.clickAndWait(`#failed-filters button[type="submit"]`, `table#failed-found`)
	require.Equal(t, 1, eval[int](b, `document.querySelectorAll('table#failed-found input[name="uuid"]').length`))
	b.do(chromedp.Click(chromedp.CSS(`table#failed-found input[name="uuid"]`)))
	b.screenshot(shots, "dashboard-failed-search.png")
	failedOf99 := func() []*driver.JobEntry {
		found, err := app.adm.JobSearch(bg, &driver.JobSearchParams{Tag: "booking:99", States: []string{driver.JobStateFailed}})
		require.NoError(t, err)
		return found.Entries
	}
	before := failedOf99()
	require.Len(t, before, 1)
	b.clickAndWait(`#retry-selected`, `.notice`)
	require.Contains(t, b.text(".notice"), "selected failed jobs were pushed back")
	require.Contains(t, b.path(), "/admin/failed/search?", "the search stays on screen")
	// The retried job runs again and fails again: a new failed row.
	require.Eventually(t, func() bool {
		now := failedOf99()
		return len(now) == 1 && now[0].ID != before[0].ID && now[0].UUID == before[0].UUID
	}, 10*time.Second, 50*time.Millisecond)

	// The other pages open. TRIPIN_SCREENSHOTS_DIR keeps a picture of
	// each, for reviewing the pages' looks.
	extra := os.Getenv("TRIPIN_SCREENSHOTS_DIR")
	for _, p := range []struct{ path, sel, name string }{
		{"/admin/jobs?state=pending", "table#jobs", "jobs"}, {"/admin/batches", "table#batches", "batches"},
		{"/admin/schedule", "table#schedule", "schedule"}, {"/admin/workers", "table#workers", "workers"},
		{"/admin/bookings", "main .tiles", "bookings"},
	} {
		b.open(p.path)
		b.do(chromedp.WaitVisible(chromedp.CSS(p.sel)))
		if extra != "" {
			b.screenshot(extra, "dashboard-"+p.name+".png")
		}
	}
	require.Contains(t, b.text("body"), "Booked today")
	b.open("/admin/schedule")
	require.Contains(t, b.text("#schedule"), "prune-reports")

	// Log out: the dashboard is closed again.
	b.clickAndWait(`form[action="/admin/logout"] button`, `input[name="email"]`)
	require.Contains(t, b.text(".notice"), "logged out")
	b.open("/admin/failed")
	b.do(chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	require.True(t, strings.HasPrefix(b.path(), "/admin/login"), b.path())
}
