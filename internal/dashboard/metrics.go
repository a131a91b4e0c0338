package dashboard

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// metricsWindow is one of the Metrics page's spans: how far back it
// reads and how wide each bar of its charts is.
type metricsWindow struct {
	Name  string
	Label string
	// per names a bar's width in the charts' labels.
	per  string
	span time.Duration
	bar  time.Duration
	// tick formats the x axis's ends.
	tick string
}

// metricsWindows are the Metrics page's spans. A week is drawn by the
// hour, the unit job_class_metrics keeps after a day.
var metricsWindows = []metricsWindow{
	{Name: "1h", Label: "1 hour", per: "minute", span: time.Hour, bar: time.Minute, tick: "15:04"},
	{Name: "24h", Label: "24 hours", per: "15 minutes", span: 24 * time.Hour, bar: 15 * time.Minute, tick: "Mon 15:04"},
	{Name: "7d", Label: "7 days", per: "hour", span: 7 * 24 * time.Hour, bar: time.Hour, tick: "Mon 2 Jan"},
}

// slowestClasses is how many job classes the slowest list shows.
const slowestClasses = 10

// metricsPage is the Metrics page's data.
type metricsPage struct {
	Window  metricsWindow
	Windows []metricsWindow
	// Job and Queue filter the charts; empty is every one.
	Job, Queue string
	// Total is every job in the window (and the filter).
	Total metricsRow
	// Classes and Queues are the window's figures per job class and per
	// queue, busiest first; Slowest the job classes by p95 runtime.
	Classes []metricsRow
	Queues  []metricsRow
	Slowest []metricsRow
	// Tables are the per-class and per-queue tables, in page order.
	Tables []metricsTable
	// Throughput and Runtime are the charts of the window and filter.
	Throughput template.HTML
	Runtime    template.HTML
}

// metricsTable is one table of the page: rows per job class or per
// queue, each linking to the page filtered by it (Param), with the row
// of the current filter (Selected) marked.
type metricsTable struct {
	Title, ID, Column, Param string
	Rows                     []metricsRow
	Selected                 string
}

// metricsRow is the figures of one job class, one queue, or all.
type metricsRow struct {
	Name string
	driver.JobClassMetric
}

// Jobs is processed and failed.
func (r metricsRow) Jobs() int { return r.Processed + r.Failed }

// FailureRate is the share of jobs that failed for good, in percent.
func (r metricsRow) FailureRate() float64 {
	if r.Jobs() == 0 {
		return 0
	}
	return 100 * float64(r.Failed) / float64(r.Jobs())
}

// AvgRuntime is the mean runtime per job.
func (r metricsRow) AvgRuntime() time.Duration {
	if r.Jobs() == 0 {
		return 0
	}
	return time.Duration(r.RuntimeUS/int64(r.Jobs())) * time.Microsecond
}

// P95 is the 95th percentile runtime, from the histogram.
func (r metricsRow) P95() time.Duration { return r.Runtime.Quantile(0.95) }

// AvgWait is the mean time a job waited once available.
func (r metricsRow) AvgWait() time.Duration {
	if r.Jobs() == 0 {
		return 0
	}
	return time.Duration(r.WaitMS/int64(r.Jobs())) * time.Millisecond
}

// MaxWait is the longest wait.
func (r metricsRow) MaxWait() time.Duration { return time.Duration(r.MaxWaitMS) * time.Millisecond }

func (d *Dashboard) handleMetrics(w http.ResponseWriter, r *http.Request, _ *session) {
	q := r.URL.Query()
	p := &metricsPage{Windows: metricsWindows, Window: metricsWindows[0]}
	for _, win := range metricsWindows {
		if win.Name == q.Get("window") {
			p.Window = win
		}
	}
	if v := q.Get("job"); validQueue(v) {
		p.Job = v
	}
	if v := q.Get("queue"); validQueue(v) {
		p.Queue = v
	}
	now := d.now()
	end := now.Truncate(p.Window.bar).Add(p.Window.bar)
	start := end.Add(-p.Window.span)
	points, err := d.p.Admin.JobClassMetricsList(r.Context(), &driver.JobClassMetricsListParams{Since: start})
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	foldMetrics(p, points, start, end, d.loc)
	d.render(w, r, http.StatusOK, "metrics", &view{Title: "Metrics", Nav: "metrics", Refresh: d.refreshSeconds() * 6, Page: p})
}

// foldMetrics fills p from the points of [start, end): the tables from
// every point, the charts from those of p's job class and queue, one bar
// per p.Window.bar, labelled in loc.
func foldMetrics(p *metricsPage, points []*driver.JobClassMetric, start, end time.Time, loc *time.Location) {
	bars := make([]driver.JobClassMetric, int(end.Sub(start)/p.Window.bar))
	classes, queues := map[string]*metricsRow{}, map[string]*metricsRow{}
	add := func(m map[string]*metricsRow, name string, pt *driver.JobClassMetric) {
		row := m[name]
		if row == nil {
			row = &metricsRow{Name: name}
			m[name] = row
		}
		row.Add(pt)
	}
	for _, pt := range points {
		if pt.Start.Before(start) || !pt.Start.Before(end) {
			continue
		}
		add(classes, pt.Kind, pt)
		add(queues, pt.Queue, pt)
		if (p.Job != "" && pt.Kind != p.Job) || (p.Queue != "" && pt.Queue != p.Queue) {
			continue
		}
		p.Total.Add(pt)
		if i := int(pt.Start.Sub(start) / p.Window.bar); i >= 0 && i < len(bars) {
			bars[i].Add(pt)
		}
	}
	p.Classes, p.Queues = sortedRows(classes), sortedRows(queues)
	p.Tables = []metricsTable{
		{Title: "Per job class", ID: "classes", Column: "Job", Param: "job", Rows: p.Classes, Selected: p.Job},
		{Title: "Per queue", ID: "queues", Column: "Queue", Param: "queue", Rows: p.Queues, Selected: p.Queue},
	}
	p.Slowest = slices.Clone(p.Classes)
	slices.SortStableFunc(p.Slowest, func(a, b metricsRow) int {
		return cmp.Or(cmp.Compare(b.P95(), a.P95()), cmp.Compare(b.AvgRuntime(), a.AvgRuntime()))
	})
	p.Slowest = p.Slowest[:min(len(p.Slowest), slowestClasses)]

	what := "all jobs"
	switch {
	case p.Job != "" && p.Queue != "":
		what = p.Job + " on " + p.Queue
	case p.Job != "":
		what = p.Job
	case p.Queue != "":
		what = "queue " + p.Queue
	}
	c := chartSpec{slots: len(bars), empty: "No jobs ran in this window"}
	if len(bars) > 0 {
		c.first, c.last = start.In(loc).Format(p.Window.tick), end.Add(-p.Window.bar).In(loc).Format(p.Window.tick)
	}
	at := func(i int) string {
		return start.Add(time.Duration(i) * p.Window.bar).In(loc).Format("Mon 2 Jan 15:04")
	}

	tc := c
	tc.label = fmt.Sprintf("Jobs per %s, last %s, %s", p.Window.per, p.Window.Label, what)
	tc.format = func(v float64) string { return strconv.Itoa(int(v)) }
	tc.parts = func(i int) []barPart {
		b := &bars[i]
		tip := fmt.Sprintf("%s — %d processed, %d failed", at(i), b.Processed, b.Failed)
		return []barPart{{float64(b.Processed), "bar-ok", tip}, {float64(b.Failed), "bar-fail", tip}}
	}
	for i := range bars {
		tc.top = math.Max(tc.top, float64(bars[i].Jobs()))
	}
	p.Throughput = drawChart(tc)

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rc := c
	rc.label = fmt.Sprintf("Runtime per job (p95 and average) per %s, last %s, %s", p.Window.per, p.Window.Label, what)
	rc.overlay = true
	rc.format = func(v float64) string { return humanDuration(time.Duration(v * float64(time.Millisecond))) }
	rc.parts = func(i int) []barPart {
		row := metricsRow{JobClassMetric: bars[i]}
		tip := fmt.Sprintf("%s — p95 %s, average %s over %d jobs", at(i), humanDuration(row.P95()), humanDuration(row.AvgRuntime()), row.Jobs())
		return []barPart{{ms(row.P95()), "bar-p95", tip}, {ms(row.AvgRuntime()), "bar-time", tip}}
	}
	for i := range bars {
		row := metricsRow{JobClassMetric: bars[i]}
		rc.top = math.Max(rc.top, math.Max(ms(row.P95()), ms(row.AvgRuntime())))
	}
	p.Runtime = drawChart(rc)
}

// sortedRows lists rows busiest first, then by name.
func sortedRows(m map[string]*metricsRow) []metricsRow {
	out := make([]metricsRow, 0, len(m))
	for _, r := range m {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b metricsRow) int {
		return cmp.Or(cmp.Compare(b.Jobs(), a.Jobs()), cmp.Compare(a.Name, b.Name))
	})
	return out
}
