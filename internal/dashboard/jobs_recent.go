package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// The pages of issue 15 over driver.JobBrowser's JobSearch and JobFind:
// recent jobs in every state with their filters, a job's own page, the
// failed-job search with retry and forget of a selection, the monitored
// tags, and retrying the failed jobs of a batch.

// recentPerPage is the page size of the recent jobs and the failed search.
const recentPerPage = 50

// sinceChoices are the time filter's choices, newest first.
var sinceChoices = []struct {
	Value string
	Label string
	Age   time.Duration
}{
	{"15m", "last 15 minutes", 15 * time.Minute},
	{"1h", "last hour", time.Hour},
	{"24h", "last 24 hours", 24 * time.Hour},
	{"7d", "last 7 days", 7 * 24 * time.Hour},
}

// mountJobs adds the routes of these pages to mux.
func (d *Dashboard) mountJobs(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"/recent", d.page(d.handleRecent))
	mux.HandleFunc("GET "+Prefix+"/recent/{uuid}", d.page(d.handleJobShow))
	mux.HandleFunc("POST "+Prefix+"/tags/monitor", d.action(d.handleTagMonitor))
	mux.HandleFunc("POST "+Prefix+"/tags/unmonitor", d.action(d.handleTagUnmonitor))
	mux.HandleFunc("GET "+Prefix+"/failed/search", d.page(d.handleFailedSearch))
	mux.HandleFunc("POST "+Prefix+"/failed/selected", d.action(d.handleFailedSelected))
	mux.HandleFunc("POST "+Prefix+"/batches/{id}/retry-failed", d.action(d.handleBatchRetry))
}

// jobFilters are the filters of the recent jobs and failed search pages,
// as the query string spells them.
type jobFilters struct {
	State string
	Queue string
	Kind  string
	Tag   string
	Error string
	Since string
	// Booking is the booking a tag by code was resolved to.
	Booking *booking.Booking
}

// query renders the filters as a query string (without the cursor).
func (f jobFilters) query() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"state": f.State, "queue": f.Queue, "kind": f.Kind, "tag": f.Tag, "error": f.Error, "since": f.Since} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// readFilters reads the filters and builds the search they ask for. A
// tag that names a booking by its code ("booking:TRP-…", or the bare
// code) becomes the booking's id tag, which every job of the booking
// carries, so that the e-ticket job (tagged by id only) is found too.
func (d *Dashboard) readFilters(r *http.Request) (jobFilters, *driver.JobSearchParams, error) {
	q := r.URL.Query()
	f := jobFilters{
		State: q.Get("state"), Queue: strings.TrimSpace(q.Get("queue")), Kind: strings.TrimSpace(q.Get("kind")),
		Tag: strings.TrimSpace(q.Get("tag")), Error: strings.TrimSpace(q.Get("error")), Since: q.Get("since"),
	}
	p := &driver.JobSearchParams{Queue: f.Queue, Kind: f.Kind, Error: f.Error, Limit: recentPerPage}
	if f.State != "" {
		if !slices.Contains(driver.JobStates, f.State) {
			f.State = ""
		} else {
			p.States = []string{f.State}
		}
	}
	for _, c := range sinceChoices {
		if c.Value == f.Since {
			p.Since = d.now().Add(-c.Age)
		}
	}
	if p.Since.IsZero() {
		f.Since = ""
	}
	p.Tag = f.Tag
	if f.Tag != "" && d.p.DB != nil {
		code := strings.TrimPrefix(f.Tag, "booking:")
		if _, err := strconv.ParseInt(code, 10, 64); err != nil && !strings.Contains(code, ":") {
			if b, err := d.p.DB.BookingGetByCode(r.Context(), code); err == nil {
				f.Booking, p.Tag = b, booking.JobTag(b.ID)
			}
		}
	}
	if p.Tag != "" {
		if err := driver.ValidTag(p.Tag); err != nil {
			return f, nil, err
		}
	}
	after, err := driver.ParseJobCursor(q.Get("after"))
	if err != nil {
		return f, nil, err
	}
	p.After = after
	return f, p, nil
}

// recentRow is one job of a listing.
type recentRow struct {
	*driver.JobEntry
	Job  string
	URL  string
	Line string
}

func (d *Dashboard) rowOf(e *driver.JobEntry) recentRow {
	return recentRow{JobEntry: e, Job: queue.PayloadJobName(e.Payload), URL: jobURL(e), Line: firstLine(d.scrub(e.Error), 160)}
}

// jobURL is the address of a job's page: its uuid, and its jobs id while
// it waits or runs, so that the page reads it by primary key.
func jobURL(e *driver.JobEntry) string {
	u := Prefix + "/recent/" + url.PathEscape(e.UUID)
	if e.JobID > 0 {
		u += "?id=" + strconv.FormatInt(e.JobID, 10)
	}
	return u
}

// scrub masks the configured secrets in a text shown on a page.
func (d *Dashboard) scrub(s string) string {
	if d.p.Config == nil || s == "" {
		return s
	}
	return d.p.Config.Scrubber()(s)
}

type recentPage struct {
	Available bool
	Filters   jobFilters
	States    []string
	Since     any
	Rows      []recentRow
	NextURL   string
	FirstURL  string
	Monitored []string
	// TagMonitored tells whether the filtered tag is monitored.
	TagMonitored bool
	Problem      string
}

func (d *Dashboard) handleRecent(w http.ResponseWriter, r *http.Request, _ *session) {
	p := &recentPage{Available: d.browser != nil, States: driver.JobStates, Since: sinceChoices}
	f, params, err := d.readFilters(r)
	p.Filters = f
	if err != nil {
		p.Problem = err.Error()
	}
	if p.Available && params != nil {
		page, err := d.browser.JobSearch(r.Context(), params)
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		for _, e := range page.Entries {
			p.Rows = append(p.Rows, d.rowOf(e))
		}
		base := f.query()
		if page.More {
			next := url.Values{}
			for k, v := range base {
				next[k] = v
			}
			next.Set("after", page.Next.String())
			p.NextURL = Prefix + "/recent?" + next.Encode()
		}
		if !params.After.IsZero() {
			p.FirstURL = Prefix + "/recent"
			if len(base) > 0 {
				p.FirstURL += "?" + base.Encode()
			}
		}
	}
	if tm, ok := d.tagMonitor(); ok {
		tags, err := tm.TagMonitorList(r.Context())
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		p.Monitored = tags
		p.TagMonitored = f.Tag != "" && slices.Contains(tags, f.Tag)
	}
	d.render(w, r, http.StatusOK, "recent", &view{Refresh: d.refreshSeconds(), Title: "Recent jobs", Nav: "recent", Page: p})
}

type jobShowPage struct {
	recentRow
	Payload string
	Error   string
	// ErrorLog is each failed attempt's error, oldest first.
	ErrorLog []driver.AttemptError
	// Waited is how long the job waited between becoming available and
	// its last start; Ran how long its last attempt ran.
	Waited  time.Duration
	Ran     time.Duration
	Booking *booking.Booking
	// BookingTag is the tag of the booking the job belongs to.
	BookingTag string
}

func (d *Dashboard) handleJobShow(w http.ResponseWriter, r *http.Request, _ *session) {
	if d.browser == nil {
		d.fail(w, r, http.StatusNotFound, "Job not found", "This queue connection cannot look jobs up.")
		return
	}
	id, _ := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	e, err := d.browser.JobFind(r.Context(), &driver.JobFindParams{UUID: r.PathValue("uuid"), JobID: id})
	if errors.Is(err, driver.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "Job not found",
			"There is no job "+r.PathValue("uuid")+": it completed and was not kept (QUEUE_KEEP_COMPLETED), or its record was pruned or forgotten.")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	p := &jobShowPage{recentRow: d.rowOf(e), Payload: d.scrub(maskedPayload(e.Payload)), Error: d.scrub(e.Error),
		ErrorLog: d.scrubAttempts(e.Errors)}
	if !e.StartedAt.IsZero() && !e.AvailableAt.IsZero() && e.StartedAt.After(e.AvailableAt) {
		p.Waited = e.StartedAt.Sub(e.AvailableAt)
	}
	if e.WaitMS > 0 {
		p.Waited = time.Duration(e.WaitMS) * time.Millisecond
	}
	p.Ran = time.Duration(e.RuntimeMS) * time.Millisecond
	for _, t := range e.Tags {
		if id, ok := strings.CutPrefix(t, "booking:"); ok {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				p.BookingTag = t
				if d.p.DB != nil {
					if b, err := d.p.DB.BookingGet(r.Context(), n); err == nil {
						p.Booking = b
					}
				}
				break
			}
		}
	}
	d.render(w, r, http.StatusOK, "job_show", &view{Title: p.Job + " " + e.UUID, Nav: "recent", Page: p})
}

// scrubAttempts masks secrets in the errors of an error log, as in every
// other error the dashboard shows.
func (d *Dashboard) scrubAttempts(log []driver.AttemptError) []driver.AttemptError {
	out := make([]driver.AttemptError, len(log))
	for i, a := range log {
		a.Error = d.scrub(a.Error)
		out[i] = a
	}
	return out
}

// tagMonitor finds the monitored tags: a capability of the driver, or,
// behind a driver that does not forward it (the redis connection's, with
// the worker's hooks), the database's, where every backend keeps them.
func (d *Dashboard) tagMonitor() (driver.TagMonitor, bool) {
	if tm, ok := capability[driver.TagMonitor](d.p.Driver, d.p.Admin); ok {
		return tm, true
	}
	if d.p.DB != nil {
		return capability[driver.TagMonitor](dbdriver.NewRegistry(d.p.DB.DB))
	}
	return nil, false
}

func (d *Dashboard) handleTagMonitor(w http.ResponseWriter, r *http.Request, s *session) {
	d.setMonitored(w, r, s, true)
}

func (d *Dashboard) handleTagUnmonitor(w http.ResponseWriter, r *http.Request, s *session) {
	d.setMonitored(w, r, s, false)
}

func (d *Dashboard) setMonitored(w http.ResponseWriter, r *http.Request, s *session, on bool) {
	tag := strings.TrimSpace(r.PostForm.Get("tag"))
	tm, ok := d.tagMonitor()
	if !ok || driver.ValidTag(tag) != nil {
		d.fail(w, r, http.StatusBadRequest, "Cannot monitor that tag", "Tags are up to 120 characters, without quotes, backslashes, < > or &.")
		return
	}
	var err error
	done := "monitored"
	if on {
		err = tm.TagMonitorAdd(r.Context(), tag)
	} else {
		err, done = tm.TagMonitorRemove(r.Context(), tag), "unmonitored"
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	d.log.Info("dashboard: monitored tag changed", "tag", tag, "monitored", on, "user_id", s.user.ID)
	redirect(w, r, Prefix+"/recent?"+url.Values{"tag": {tag}}.Encode(), done)
}

type failedSearchPage struct {
	Filters  jobFilters
	Rows     []recentRow
	NextURL  string
	FirstURL string
	Back     string
	Problem  string
}

func (d *Dashboard) handleFailedSearch(w http.ResponseWriter, r *http.Request, _ *session) {
	f, params, err := d.readFilters(r)
	f.State = driver.JobStateFailed
	p := &failedSearchPage{Filters: f}
	if err != nil {
		p.Problem = err.Error()
	}
	if params != nil {
		params.States = []string{driver.JobStateFailed}
		// Failed jobs live in failed_jobs whatever the connection, so the
		// Admin searches them when the driver has no browser.
		var page *driver.JobSearchPage
		if d.browser != nil {
			page, err = d.browser.JobSearch(r.Context(), params)
		} else {
			err = errors.New("dashboard: the queue connection cannot search jobs")
		}
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		for _, e := range page.Entries {
			p.Rows = append(p.Rows, d.rowOf(e))
		}
		base := f.query()
		base.Del("state")
		if page.More {
			next := url.Values{}
			for k, v := range base {
				next[k] = v
			}
			next.Set("after", page.Next.String())
			p.NextURL = Prefix + "/failed/search?" + next.Encode()
		}
		if !params.After.IsZero() {
			p.FirstURL = Prefix + "/failed/search?" + base.Encode()
		}
		p.Back = Prefix + "/failed/search?" + r.URL.RawQuery
	}
	d.render(w, r, http.StatusOK, "failed_search", &view{Refresh: d.refreshSeconds(), Title: "Search failed jobs", Nav: "failed", Page: p})
}

// handleFailedSelected retries or forgets the failed jobs ticked on the
// search page, by uuid, and returns to the search.
func (d *Dashboard) handleFailedSelected(w http.ResponseWriter, r *http.Request, s *session) {
	ids := r.PostForm["uuid"]
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, Prefix+"/failed/search") {
		back = Prefix + "/failed/search"
	}
	if len(ids) == 0 {
		redirect(w, r, back, "none-selected")
		return
	}
	if len(ids) > 500 {
		d.fail(w, r, http.StatusBadRequest, "Too many jobs selected", "Select at most 500 failed jobs at a time.")
		return
	}
	switch r.PostForm.Get("do") {
	case "retry":
		moved, err := d.p.Admin.FailedRetry(r.Context(), &driver.FailedRetryParams{IDs: ids, DefaultMaxAttempts: d.p.DefaultMaxAttempts})
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		d.log.Info("dashboard: selected failed jobs retried", "count", len(moved), "user_id", s.user.ID)
		redirect(w, r, back, "retried-selected")
	case "forget":
		n, err := d.p.Admin.FailedForget(r.Context(), ids)
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		d.log.Info("dashboard: selected failed jobs forgotten", "count", n, "user_id", s.user.ID)
		redirect(w, r, back, "forgotten-selected")
	default:
		d.fail(w, r, http.StatusBadRequest, "Unknown action", "Choose Retry selected or Forget selected.")
	}
}

// handleBatchRetry retries the failed jobs of one batch.
func (d *Dashboard) handleBatchRetry(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	_, moved, err := queue.RetryBatch(r.Context(), d.p.Admin, id, d.p.DefaultMaxAttempts)
	if errors.Is(err, driver.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "Batch not found", "There is no batch "+id+"; it may have been pruned.")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	if len(moved) == 0 {
		redirect(w, r, Prefix+"/batches", "none")
		return
	}
	d.log.Info("dashboard: batch's failed jobs retried", "batch", id, "count", len(moved), "user_id", s.user.ID)
	redirect(w, r, Prefix+"/batches", "batch-retried")
}

// jobNotices are the notices of these pages' actions, added to notices.
var jobNotices = map[string]string{
	"retried-selected":   "The selected failed jobs were pushed back onto their queues.",
	"forgotten-selected": "The selected failed jobs were deleted.",
	"none-selected":      "No failed job was selected.",
	"monitored":          "The tag is monitored: its completed jobs are kept for QUEUE_MONITORED_KEEP.",
	"unmonitored":        "The tag is no longer monitored.",
	"batch-retried":      "The batch's failed jobs were pushed back onto their queues.",
}

func init() {
	for k, v := range jobNotices {
		notices[k] = v
	}
}
