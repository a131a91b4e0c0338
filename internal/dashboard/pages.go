package dashboard

import (
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// Page sizes and windows of the pages.
const (
	failedPerPage  = 20
	jobsPerPage    = 50
	batchesPerPage = 30
	// chartMinutes is the span of the overview's charts.
	chartMinutes = 60
	// rateMinutes is the window "jobs per minute" is averaged over.
	rateMinutes = 5
	// liveAfter is how recent a heartbeat must be for a process to count
	// as live.
	liveAfter = 90 * time.Second
)

// overviewPage is the overview's data.
type overviewPage struct {
	JobsPerMinute   float64
	PastHour        int
	Failed7Days     int
	Failed7DaysOK   bool
	MaxWait         time.Duration
	MaxWaitQueue    string
	MaxRuntime      time.Duration
	MaxRuntimeQueue string
	Workers         int
	WorkersKnown    bool
	Paused          []*driver.QueuePause
	Queues          []*driver.QueueStat
	Throughput      template.HTML
	Runtime         template.HTML
	// CountLimit is where the queue counts stopped, when one of them did
	// (0 otherwise): the page says so under the table.
	CountLimit int
}

func (d *Dashboard) handleOverview(w http.ResponseWriter, r *http.Request, _ *session) {
	ctx := r.Context()
	p := &overviewPage{}
	stats, err := d.p.Admin.QueueStats(ctx, &driver.QueueStatsParams{Queues: d.p.Queues, CountLimit: d.p.QueueCountLimit})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	p.Queues = stats
	for _, s := range stats {
		if s.AnyCapped() {
			p.CountLimit = s.CountLimit
		}
		if s.OldestWait > p.MaxWait || p.MaxWaitQueue == "" && s.Pending > 0 {
			p.MaxWait, p.MaxWaitQueue = s.OldestWait, s.Queue
		}
	}
	if p.Paused, err = d.p.Admin.QueuePausedList(ctx); err != nil {
		d.internalError(w, r, err)
		return
	}
	now := d.now()
	metrics, err := d.p.Admin.JobMetricsList(ctx, &driver.JobMetricsListParams{Since: now.Add(-chartMinutes * time.Minute)})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	s := summarize(metrics, now)
	p.JobsPerMinute, p.PastHour = s.perMinute, s.pastHour
	p.MaxRuntime, p.MaxRuntimeQueue = s.maxRuntime, s.maxRuntimeQueue
	p.Throughput, p.Runtime = throughputChart(s.buckets, d.loc), runtimeChart(s.buckets, d.loc)
	if d.p.DB != nil {
		if p.Failed7Days, err = d.p.DB.FailedJobsSince(ctx, 7*24*time.Hour); err != nil {
			d.internalError(w, r, err)
			return
		}
		p.Failed7DaysOK = true
	}
	if d.registry != nil {
		procs, err := d.registry.ProcessList(ctx, &driver.ProcessListParams{Kind: driver.ProcessWorker, StaleAfter: liveAfter})
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		p.Workers, p.WorkersKnown = len(procs), true
	}
	d.render(w, r, http.StatusOK, "overview", &view{Title: "Overview", Nav: "overview", Refresh: d.refreshSeconds(), Page: p})
}

// metricSummary is the job_metrics of the last hour, folded for the
// overview.
type metricSummary struct {
	perMinute       float64
	pastHour        int
	maxRuntime      time.Duration
	maxRuntimeQueue string
	buckets         []bucket
}

// bucket is one minute of every queue's metrics.
type bucket struct {
	minute    time.Time
	processed int
	failed    int
	runtimeMS int64
}

// summarize folds per-queue, per-minute points into one bucket per minute
// of the last hour (missing minutes are zero) and the overview's figures.
// The longest runtime is the highest average runtime per job of a queue
// over the hour: the metrics keep sums, not single jobs.
func summarize(points []*driver.JobMetric, now time.Time) metricSummary {
	end := now.Truncate(time.Minute)
	start := end.Add(-(chartMinutes - 1) * time.Minute)
	s := metricSummary{buckets: make([]bucket, chartMinutes)}
	for i := range s.buckets {
		s.buckets[i].minute = start.Add(time.Duration(i) * time.Minute)
	}
	type queueSum struct {
		jobs      int
		runtimeMS int64
	}
	perQueue := map[string]*queueSum{}
	for _, m := range points {
		i := int(m.Minute.Sub(start) / time.Minute)
		if i < 0 || i >= chartMinutes {
			continue
		}
		b := &s.buckets[i]
		b.processed += m.Processed
		b.failed += m.Failed
		b.runtimeMS += m.RuntimeMS
		s.pastHour += m.Processed + m.Failed
		if i >= chartMinutes-rateMinutes {
			s.perMinute += float64(m.Processed+m.Failed) / rateMinutes
		}
		q := perQueue[m.Queue]
		if q == nil {
			q = &queueSum{}
			perQueue[m.Queue] = q
		}
		q.jobs += m.Processed + m.Failed
		q.runtimeMS += m.RuntimeMS
	}
	names := make([]string, 0, len(perQueue))
	for name := range perQueue {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		q := perQueue[name]
		if q.jobs == 0 {
			continue
		}
		avg := time.Duration(q.runtimeMS) * time.Millisecond / time.Duration(q.jobs)
		if s.maxRuntimeQueue == "" || avg > s.maxRuntime {
			s.maxRuntime, s.maxRuntimeQueue = avg, name
		}
	}
	return s
}

// validQueue accepts the queue names a path may carry: what the jobs
// table's column holds.
func validQueue(q string) bool {
	return q != "" && len(q) <= 255 && !strings.ContainsAny(q, "\x00\r\n")
}

func (d *Dashboard) handlePause(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.PathValue("queue")
	if !validQueue(q) {
		d.fail(w, r, http.StatusBadRequest, "Bad queue name", "The queue name is empty or too long.")
		return
	}
	if err := d.p.Admin.QueuePause(r.Context(), q, "dashboard:"+s.user.Email); err != nil {
		d.internalError(w, r, err)
		return
	}
	d.log.Info("dashboard: queue paused", "queue", q, "user_id", s.user.ID)
	redirect(w, r, Prefix, "paused")
}

func (d *Dashboard) handleResume(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.PathValue("queue")
	if !validQueue(q) {
		d.fail(w, r, http.StatusBadRequest, "Bad queue name", "The queue name is empty or too long.")
		return
	}
	if err := d.p.Admin.QueueResume(r.Context(), q); err != nil {
		d.internalError(w, r, err)
		return
	}
	d.log.Info("dashboard: queue resumed", "queue", q, "user_id", s.user.ID)
	redirect(w, r, Prefix, "resumed")
}

// pager is the paging of a list page.
type pager struct {
	Page, Pages, Total int
	PrevURL, NextURL   string
}

func pageNumber(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func newPager(path string, query map[string]string, page, perPage, total int) pager {
	p := pager{Page: page, Total: total, Pages: max(1, (total+perPage-1)/perPage)}
	link := func(n int) string {
		var b strings.Builder
		b.WriteString(path + "?page=" + strconv.Itoa(n))
		keys := make([]string, 0, len(query))
		for k := range query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if query[k] != "" {
				b.WriteString("&" + k + "=" + template.URLQueryEscaper(query[k]))
			}
		}
		return b.String()
	}
	if page > 1 {
		p.PrevURL = link(page - 1)
	}
	if page < p.Pages {
		p.NextURL = link(page + 1)
	}
	return p
}

// failedRow is one failed job as the list shows it.
type failedRow struct {
	*driver.FailedJob
	Job   string
	Error string
}

type failedPage struct {
	Queue string
	Rows  []failedRow
	Pager pager
}

func (d *Dashboard) handleFailedList(w http.ResponseWriter, r *http.Request, _ *session) {
	ctx := r.Context()
	q := r.URL.Query().Get("queue")
	page := pageNumber(r)
	total, err := d.p.Admin.FailedCount(ctx, q)
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	jobs, err := d.p.Admin.FailedList(ctx, &driver.FailedListParams{Queue: q, Limit: failedPerPage, Offset: (page - 1) * failedPerPage})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	p := &failedPage{Queue: q, Pager: newPager(Prefix+"/failed", map[string]string{"queue": q}, page, failedPerPage, total)}
	for _, f := range jobs {
		p.Rows = append(p.Rows, failedRow{FailedJob: f, Job: queue.PayloadJobName(f.Payload), Error: firstLine(f.Exception, 160)})
	}
	d.render(w, r, http.StatusOK, "failed", &view{Refresh: d.refreshSeconds(), Title: "Failed jobs", Nav: "failed", Page: p})
}

type failedShowPage struct {
	*driver.FailedJob
	Job     string
	Payload string
	// ErrorLog is each failed attempt's error, oldest first.
	ErrorLog []driver.AttemptError
}

func (d *Dashboard) handleFailedShow(w http.ResponseWriter, r *http.Request, _ *session) {
	f, err := d.p.Admin.FailedGet(r.Context(), r.PathValue("id"))
	if errors.Is(err, driver.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "Failed job not found",
			"There is no failed job "+r.PathValue("id")+"; it may have been retried or deleted.")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	f.Exception = d.scrub(f.Exception)
	p := &failedShowPage{FailedJob: f, Job: queue.PayloadJobName(f.Payload), Payload: maskedPayload(f.Payload),
		ErrorLog: d.scrubAttempts(driver.ParseErrorLog(f.ErrorLog))}
	d.render(w, r, http.StatusOK, "failed_show", &view{Title: "Failed job " + strconv.FormatInt(f.ID, 10), Nav: "failed", Page: p})
}

func (d *Dashboard) handleFailedRetry(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	moved, err := d.p.Admin.FailedRetry(r.Context(), &driver.FailedRetryParams{IDs: []string{id}, DefaultMaxAttempts: d.p.DefaultMaxAttempts})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	if len(moved) == 0 {
		redirect(w, r, Prefix+"/failed", "missing")
		return
	}
	d.log.Info("dashboard: failed job retried", "uuid", moved[0].UUID, "queue", moved[0].Queue, "user_id", s.user.ID)
	redirect(w, r, Prefix+"/failed", "retried")
}

func (d *Dashboard) handleFailedRetryAll(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.PostForm.Get("queue")
	moved, err := d.p.Admin.FailedRetry(r.Context(), &driver.FailedRetryParams{All: true, Queue: q, DefaultMaxAttempts: d.p.DefaultMaxAttempts})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	if len(moved) == 0 {
		redirect(w, r, Prefix+"/failed", "none")
		return
	}
	d.log.Info("dashboard: failed jobs retried", "count", len(moved), "queue", q, "user_id", s.user.ID)
	redirect(w, r, Prefix+"/failed", "retried-all")
}

func (d *Dashboard) handleFailedForget(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	n, err := d.p.Admin.FailedForget(r.Context(), []string{id})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	if n == 0 {
		redirect(w, r, Prefix+"/failed", "missing")
		return
	}
	d.log.Info("dashboard: failed job forgotten", "id", id, "user_id", s.user.ID)
	redirect(w, r, Prefix+"/failed", "forgotten")
}

// jobRow is one waiting or running job as the jobs page shows it.
type jobRow struct {
	*driver.JobRow
	Job string
}

type jobsPage struct {
	Available bool
	State     string
	States    []string
	Queue     string
	Rows      []jobRow
	PrevURL   string
	NextURL   string
	Page      int
}

func (d *Dashboard) handleJobs(w http.ResponseWriter, r *http.Request, _ *session) {
	q := r.URL.Query()
	p := &jobsPage{
		Available: d.browser != nil, State: q.Get("state"), Queue: q.Get("queue"), Page: pageNumber(r),
		States: []string{driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved},
	}
	switch p.State {
	case driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved:
	default:
		p.State = driver.JobStatePending
	}
	if p.Available {
		// Pages are keyset pages: "after" names the last job of the page
		// before (available_at.id), so a page deep in a backlog of
		// millions costs what the first one does. One row more than a
		// page tells whether a next page exists without counting.
		var after *driver.JobListCursor
		if a := q.Get("after"); a != "" {
			if after = parseJobCursor(a); after == nil {
				d.fail(w, r, http.StatusBadRequest, "Bad page link",
					"The after parameter must be a job's position as the Next link gives it (available_at.id).")
				return
			}
		}
		rows, err := d.browser.JobList(r.Context(), &driver.JobListParams{
			State: p.State, Queue: p.Queue, Limit: jobsPerPage + 1, After: after,
		})
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		link := func(after *driver.JobListCursor, page int) string {
			u := Prefix + "/jobs?state=" + p.State
			if p.Queue != "" {
				u += "&queue=" + template.URLQueryEscaper(p.Queue)
			}
			if after != nil {
				u += "&after=" + formatJobCursor(after) + "&page=" + strconv.Itoa(page)
			}
			return u
		}
		if len(rows) > jobsPerPage {
			rows = rows[:jobsPerPage]
			p.NextURL = link(driver.CursorOf(rows[len(rows)-1]), p.Page+1)
		}
		if after != nil {
			p.PrevURL = link(nil, 1)
		} else {
			p.Page = 1
		}
		for _, row := range rows {
			p.Rows = append(p.Rows, jobRow{JobRow: row, Job: queue.PayloadJobName(row.Payload)})
		}
	}
	d.render(w, r, http.StatusOK, "jobs", &view{Refresh: d.refreshSeconds(), Title: "Jobs", Nav: "jobs", Page: p})
}

type batchesPage struct {
	Rows    []*driver.Batch
	PrevURL string
	NextURL string
}

func (d *Dashboard) handleBatches(w http.ResponseWriter, r *http.Request, _ *session) {
	page := pageNumber(r)
	rows, err := d.p.Admin.BatchList(r.Context(), &driver.BatchListParams{Limit: batchesPerPage + 1, Offset: (page - 1) * batchesPerPage})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	p := &batchesPage{}
	if len(rows) > batchesPerPage {
		rows, p.NextURL = rows[:batchesPerPage], Prefix+"/batches?page="+strconv.Itoa(page+1)
	}
	if page > 1 {
		p.PrevURL = Prefix + "/batches?page=" + strconv.Itoa(page-1)
	}
	p.Rows = rows
	d.render(w, r, http.StatusOK, "batches", &view{Refresh: d.refreshSeconds(), Title: "Batches", Nav: "batches", Page: p})
}

// scheduleRow is one scheduled event with its last run.
type scheduleRow struct {
	schedule.EventInfo
	Last    *schedule.Run
	NextDue time.Time
}

type schedulePage struct {
	Available bool
	Timezone  string
	Rows      []scheduleRow
}

func (d *Dashboard) handleSchedule(w http.ResponseWriter, r *http.Request, _ *session) {
	p := &schedulePage{Available: d.p.Schedule != nil}
	if p.Available {
		now := d.now()
		var last map[string]schedule.Run
		if d.p.Runs != nil {
			var err error
			if last, err = d.p.Runs.Last(r.Context()); err != nil {
				d.internalError(w, r, err)
				return
			}
		}
		p.Timezone = d.p.Schedule.Location().String()
		for _, e := range d.p.Schedule.Describe(now) {
			row := scheduleRow{EventInfo: e, NextDue: e.NextDue}
			if run, ok := last[e.Name]; ok {
				row.Last = &run
			}
			p.Rows = append(p.Rows, row)
		}
	}
	d.render(w, r, http.StatusOK, "schedule", &view{Refresh: d.refreshSeconds(), Title: "Scheduled tasks", Nav: "schedule", Page: p})
}

// processRow is one worker or scheduler process.
type processRow struct {
	*driver.Process
	Live bool
}

type workersPage struct {
	Available bool
	Rows      []processRow
	Live      int
}

func (d *Dashboard) handleWorkers(w http.ResponseWriter, r *http.Request, _ *session) {
	p := &workersPage{Available: d.registry != nil}
	if p.Available {
		procs, err := d.registry.ProcessList(r.Context(), &driver.ProcessListParams{})
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		for _, pr := range procs {
			live := pr.Age < liveAfter
			if live {
				p.Live++
			}
			p.Rows = append(p.Rows, processRow{Process: pr, Live: live})
		}
	}
	d.render(w, r, http.StatusOK, "workers", &view{Refresh: d.refreshSeconds(), Title: "Workers", Nav: "workers", Page: p})
}

type bookingsPage struct {
	Available bool
	// Search is the search by code or email, when the page was asked one.
	Search      *bookingSearch
	Since       time.Time
	Counts      *store.DashboardCounts
	Today       []*store.DashboardBooking
	NeedsRefund []*store.DashboardBooking
}

func (d *Dashboard) handleBookings(w http.ResponseWriter, r *http.Request, _ *session) {
	p := &bookingsPage{Available: d.p.DB != nil}
	if p.Available && strings.TrimSpace(r.URL.Query().Get("q")) != "" {
		search, done := d.searchBookings(w, r)
		if done {
			return
		}
		p.Search = search
	} else if p.Available {
		ctx := r.Context()
		now := d.now().In(d.loc)
		p.Since = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, d.loc)
		var err error
		if p.Counts, err = d.p.DB.DashboardBookingCounts(ctx, p.Since); err != nil {
			d.internalError(w, r, err)
			return
		}
		if p.Today, err = d.p.DB.DashboardBookingsSince(ctx, p.Since, 50); err != nil {
			d.internalError(w, r, err)
			return
		}
		if p.NeedsRefund, err = d.p.DB.DashboardBookingsNeedingRefund(ctx, 50); err != nil {
			d.internalError(w, r, err)
			return
		}
	}
	d.render(w, r, http.StatusOK, "bookings", &view{Refresh: d.refreshSeconds(), Title: "Bookings", Nav: "bookings", Page: p})
}
