// Package dashboard is Tripin's ops UI at /admin: queues, failed jobs,
// batches, scheduled tasks, workers and the day's bookings, rendered on the
// server with html/template (charts are inline SVG), styled by one
// embedded stylesheet and driven by plain HTML forms. The only script is
// the small inline one that reloads the list pages (refresh.go), allowed
// by its hash. Only administrators may enter; every change is a POST that
// carries a CSRF token bound to the session.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/secheaders"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/throttle"
	"github.com/tripintravel/tripin/queue/driver"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path the dashboard lives under.
const Prefix = "/admin"

// ScheduleRuns reads the last run of each scheduled event;
// *schedule.RunLog implements it.
type ScheduleRuns interface {
	Last(ctx context.Context) (map[string]schedule.Run, error)
}

// Params are the dashboard's dependencies. Admin and Accounts are
// required; a nil DB hides the bookings panel, a nil Schedule the
// scheduled tasks.
type Params struct {
	DB *store.DB
	// Admin is the queue's operator storage: stats, failed jobs, pauses,
	// batches and metrics.
	Admin driver.Admin
	// Driver is searched, after Admin, for the optional capabilities
	// driver.JobBrowser (pending, delayed and reserved jobs) and
	// driver.Registry (live workers); pages whose capability is missing
	// say so instead of failing.
	Driver   any
	Accounts *booking.Accounts
	Schedule *schedule.Schedule
	Runs     ScheduleRuns
	Config   *config.Config
	Logger   *slog.Logger
	// Queues are shown on the overview even while they are empty.
	Queues []string
	// QueueCountLimit is where the overview stops counting a queue's jobs
	// of one state and shows "10,000+" (driver.DefaultCountLimit when
	// zero; negative counts every job at every view).
	QueueCountLimit int
	// DefaultMaxAttempts is the tries of a retried job whose payload sets
	// none (the engine's configured tries).
	DefaultMaxAttempts int
	// Now is the clock for "today" and relative times; nil means time.Now.
	// Queue ages come from the database clock.
	Now func() time.Time
	// Limiter counts login attempts against the API's limits (Config's
	// LOGIN_RATE_LIMIT and LOGIN_IP_RATE_LIMIT) on the API's counters.
	// Nil means Admin, the queue's storage, which has the limiter.
	Limiter throttle.Limiter
	// Refresh is how often the list pages reload themselves; zero means
	// every 10 seconds.
	Refresh time.Duration
}

// Dashboard serves the ops UI. Mount it on the API's mux, or serve it
// on its own: it is an http.Handler for the paths under Prefix.
type Dashboard struct {
	p        Params
	log      *slog.Logger
	now      func() time.Time
	loc      *time.Location
	pages    map[string]*template.Template
	static   http.Handler
	mux      *http.ServeMux
	browser  driver.JobBrowser
	registry driver.Registry
	throttle *throttle.Throttle
	refresh  time.Duration
}

// New builds the dashboard. It panics when a template does not parse,
// which is a programming error caught by any test.
func New(p Params) *Dashboard {
	d := &Dashboard{p: p, log: p.Logger, now: p.Now, loc: time.UTC}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if p.Config != nil && p.Config.AppTimezone != nil {
		d.loc = p.Config.AppTimezone
	}
	d.refresh = p.Refresh
	if d.refresh <= 0 {
		d.refresh = defaultRefresh
	}
	if d.p.DefaultMaxAttempts == 0 {
		d.p.DefaultMaxAttempts = 1
	}
	d.browser, _ = capability[driver.JobBrowser](p.Driver, p.Admin)
	d.registry, _ = capability[driver.Registry](p.Driver, p.Admin)
	d.pages = parsePages()
	sub, _ := fs.Sub(staticFS, "static")
	d.static = http.StripPrefix(Prefix+"/assets/", http.FileServerFS(sub))
	lim := p.Limiter
	if lim == nil {
		lim = p.Admin
	}
	limits := throttle.Limits{LoginPerAccount: config.DefaultLoginRateLimit, LoginPerAddress: config.DefaultLoginIPRateLimit}
	if p.Config != nil {
		limits = httpapi.ThrottleLimits(p.Config)
	}
	d.throttle = throttle.New(lim, limits)
	d.mux = http.NewServeMux()
	d.Mount(d.mux)
	return d
}

// capability finds an optional driver capability by type assertion, in
// the order the candidates are given.
func capability[T any](candidates ...any) (T, bool) {
	for _, c := range candidates {
		if v, ok := c.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// ServeHTTP serves the dashboard on its own (tests, or a separate
// listener). Bodies are capped here because no API middleware is in front.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	d.mux.ServeHTTP(w, r)
}

// maxFormBytes bounds a dashboard form; the largest is the login form.
const maxFormBytes = 64 << 10

// Mount adds the dashboard's routes to mux. Every path under Prefix is
// the dashboard's, so unknown ones get its HTML 404 rather than the API's
// JSON one.
func (d *Dashboard) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+Prefix+"/assets/", d.assets())
	mux.HandleFunc("GET "+Prefix+"/login", d.handleLoginForm)
	mux.HandleFunc("POST "+Prefix+"/login", d.handleLogin)
	// Any logged-in user may log out, so that a customer who reached the
	// dashboard can leave it and log in as an administrator.
	mux.HandleFunc("POST "+Prefix+"/logout", d.authed(false, d.checkCSRF(d.handleLogout)))

	mux.HandleFunc("GET "+Prefix, d.page(d.handleOverview))
	mux.HandleFunc("GET "+Prefix+"/{$}", d.page(d.handleOverview))
	mux.HandleFunc("POST "+Prefix+"/queues/{queue}/pause", d.action(d.handlePause))
	mux.HandleFunc("POST "+Prefix+"/queues/{queue}/resume", d.action(d.handleResume))

	mux.HandleFunc("GET "+Prefix+"/failed", d.page(d.handleFailedList))
	mux.HandleFunc("GET "+Prefix+"/failed/{id}", d.page(d.handleFailedShow))
	mux.HandleFunc("POST "+Prefix+"/failed/retry-all", d.action(d.handleFailedRetryAll))
	mux.HandleFunc("POST "+Prefix+"/failed/{id}/retry", d.action(d.handleFailedRetry))
	mux.HandleFunc("POST "+Prefix+"/failed/{id}/forget", d.action(d.handleFailedForget))

	mux.HandleFunc("GET "+Prefix+"/jobs", d.page(d.handleJobs))
	mux.HandleFunc("GET "+Prefix+"/batches", d.page(d.handleBatches))
	mux.HandleFunc("GET "+Prefix+"/schedule", d.page(d.handleSchedule))
	mux.HandleFunc("GET "+Prefix+"/workers", d.page(d.handleWorkers))
	mux.HandleFunc("GET "+Prefix+"/bookings", d.page(d.handleBookings))
	mux.HandleFunc("GET "+Prefix+"/metrics", d.page(d.handleMetrics))
	d.mountJobs(mux)
	d.mountActing(mux)
	d.mountMail(mux)

	mux.HandleFunc(Prefix+"/", d.page(d.handleNotFound))
}

// assets serves the embedded stylesheet. It needs no login: it holds
// nothing private, and the login page uses it.
func (d *Dashboard) assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		d.static.ServeHTTP(w, r)
	})
}

// pageFiles are the templates of the pages; each is parsed with
// layout.html, which defines the frame around its "content", and with
// partials.html, the pieces several pages show.
var pageFiles = []string{
	"login", "overview", "failed", "failed_show", "jobs", "batches", "schedule", "workers", "bookings", "metrics", "error",
	"recent", "job_show", "failed_search",
	"booking_show",
	"mail",
}

func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html"))
	pages := map[string]*template.Template{}
	for _, name := range pageFiles {
		t := template.Must(base.Clone())
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
	return pages
}

// view is what every page template receives: the frame's fields and the
// page's own data in Page.
type view struct {
	Title string
	// AppName is APP_NAME, in the title and the brand; Logo is its
	// first letter.
	AppName string
	Logo    string
	Nav     string
	User    *booking.User
	CSRF    string
	Notice  string
	Alert   string
	// Refresh, when positive, reloads the page every so many seconds
	// (the layout's script; see refresh.go), unless Paused: this browser's
	// operator paused the refresh. Here is the page's own address, for
	// the pause button to come back to.
	Refresh int
	Paused  bool
	Here    string
	Now     time.Time
	Prefix  string
	Page    any
}

// render writes a page. It renders into a buffer first, so that a
// template error becomes a clean 500 instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := d.pages[name]
	if !ok {
		panic("dashboard: no page " + name)
	}
	v.Prefix, v.Now = Prefix, d.now().In(d.loc)
	v.AppName = config.DefaultAppName
	if d.p.Config != nil {
		v.AppName = d.p.Config.Name()
	}
	first, _ := utf8.DecodeRuneInString(v.AppName)
	v.Logo = strings.ToUpper(string(first))
	if s, ok := sessionFrom(r.Context()); ok {
		v.User, v.CSRF = s.user, s.csrf
	}
	if v.Notice == "" {
		v.Notice = notices[r.URL.Query().Get("done")]
	}
	v.Paused, v.Here = refreshPaused(r), here(r)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		d.log.Error("dashboard: render page", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	setSecurityHeaders(w, r, v.Refreshing())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// setSecurityHeaders forbids scripts, framing and third-party loads: the
// pages need nothing but their own stylesheet and inline SVG, and a page
// that refreshes itself its refresh script, which alone is allowed.
func setSecurityHeaders(w http.ResponseWriter, r *http.Request, refreshScript bool) {
	policy := secheaders.DashboardPolicy
	if refreshScript {
		policy = refreshPolicy
	}
	secheaders.Set(w, r, policy)
	w.Header().Set("Cache-Control", "no-store")
}

// notices are the messages a redirect after a change may ask for with
// ?done=KEY; only these fixed texts can appear, so the parameter cannot
// inject content.
var notices = map[string]string{
	"retried":     "The job was pushed back onto its queue.",
	"retried-all": "Every failed job was pushed back onto its queue.",
	"forgotten":   "The failed job was deleted.",
	"paused":      "The queue is paused: no worker on any server takes its jobs.",
	"resumed":     "The queue is resumed.",
	"missing":     "That failed job no longer exists; someone may have retried or deleted it.",
	"none":        "There were no failed jobs to retry.",
	"logged-out":  "You have been logged out.",
	// batch-cancelled follows a batch's Cancel button.
	"batch-cancelled": "The batch is cancelled: workers skip its jobs that have not started.",
}

// errorPage renders a page that explains a refusal or a failure.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	d.render(w, r, status, "error", &view{Title: heading, Page: errorPage{Status: status, Heading: heading, Message: msg}})
}

// internalError logs err once, here at the boundary, and answers a page
// that leaks nothing of it.
func (d *Dashboard) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	d.log.Error("dashboard: request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	d.fail(w, r, http.StatusInternalServerError, "Something went wrong",
		"The dashboard could not load this page. The error has been logged.")
}

func (d *Dashboard) handleNotFound(w http.ResponseWriter, r *http.Request, _ *session) {
	d.fail(w, r, http.StatusNotFound, "Page not found", fmt.Sprintf("There is no dashboard page at %s.", r.URL.Path))
}

// redirect answers a POST with 303 See Other, so that reloading the page
// it lands on never repeats the change.
func redirect(w http.ResponseWriter, r *http.Request, path, done string) {
	if done != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "done=" + done
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}
