// Package telemetry exports Tripin's metrics to Prometheus: the jobs this
// process worked (through the queue's observer hook), the HTTP requests it
// answered (through httpapi's observer), and, read from the database at
// scrape time, the queues' depth, the live workers and the bookings, which
// every process shares. Each Metrics has its own registry, never the
// global one, so that tests can build as many as they like.
package telemetry

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric Tripin defines.
const namespace = "tripin"

// Defaults of Options fields left zero.
const (
	DefaultCacheFor   = time.Second
	DefaultTimeout    = 5 * time.Second
	DefaultStaleAfter = 60 * time.Second
)

// Options configure New.
type Options struct {
	// Logger receives the warnings of failed database reads. Nil discards
	// them.
	Logger *slog.Logger
	// CacheFor is how long one database read serves scrapes (1s), so that
	// several Prometheus servers, or a dashboard polling /metrics, cost the
	// database one read per interval however often they ask.
	CacheFor time.Duration
	// Timeout bounds each database read a scrape makes (5s), below
	// Prometheus's default scrape timeout of 10s so that a slow database
	// costs a few series, not the whole scrape.
	Timeout time.Duration
	// StaleAfter is how old a process's heartbeat may be for it to count
	// as live (60s).
	StaleAfter time.Duration
	// CountLimit is where the tripin_queue_jobs counts of each queue and
	// state stop (driver.DefaultCountLimit, 10,000): a series at
	// CountLimit+1 means "more than CountLimit". It keeps a scrape's cost
	// flat however large the backlog grows. Negative counts every row.
	CountLimit int
	// Now is the clock the cache times are read on (time.Now); tests set
	// it to move time without sleeping.
	Now func() time.Time
}

// Metrics holds one process's metrics and their registry. Create it with
// New; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	jobsProcessed *prometheus.CounterVec
	jobsFailed    *prometheus.CounterVec
	jobsRetried   *prometheus.CounterVec
	jobsReleased  *prometheus.CounterVec
	jobsLeaseLost *prometheus.CounterVec
	jobDuration   *prometheus.HistogramVec
	jobWait       *prometheus.HistogramVec
	httpDuration  *prometheus.HistogramVec
	readErrors    *prometheus.CounterVec

	queue    *queueCollector
	bookings *bookingCollector
}

// jobDurationBuckets span a quick email (tens of milliseconds) to a job at
// the default 60 s timeout and the long ones that set their own.
var jobDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// jobWaitBuckets start at a second because the jobs table keeps whole
// seconds: a job taken at once waits 0, the next step is 1.
var jobWaitBuckets = []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// httpDurationBuckets are Prometheus's defaults with a finer low end: most
// API answers take a few milliseconds.
var httpDurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// New returns a Metrics with its own registry, holding the Go runtime and
// process collectors, the job and HTTP metrics, and the database-backed
// collectors, which report nothing until WatchQueue and WatchBookings give
// them a source.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheFor <= 0 {
		opts.CacheFor = DefaultCacheFor
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: opts.Logger}
	// job is the job class, as kind is: bounded, since classes are
	// registered. Prometheus stores it as exported_job unless the scrape
	// sets honor_labels, since job is also its own target label.
	jobLabels := []string{"queue", "kind", "job"}
	m.jobsProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_processed_total",
		Help: "Jobs this process completed successfully (including jobs of cancelled batches, which complete without running).",
	}, jobLabels)
	m.jobsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_failed_total",
		Help: "Jobs this process failed for good: out of tries or failed permanently, moved to failed_jobs.",
	}, jobLabels)
	m.jobsRetried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_retried_total",
		Help: "Attempts that failed in this process and put their job back on the queue to run again.",
	}, jobLabels)
	m.jobsReleased = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_released_total",
		Help: "Jobs this process put back without using an attempt (snoozed, released by job middleware, or stopped with the worker).",
	}, jobLabels)
	m.jobsLeaseLost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_lease_lost_total",
		Help: "Outcomes this process did not record because its claim of the job no longer held: the worker stalled past its lease and another took the job over, or the job was deleted. Nothing was written for them.",
	}, jobLabels)
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "job_duration_seconds",
		Help:    "How long each attempt whose handler ran took in this process, from claim to its outcome being written.",
		Buckets: jobDurationBuckets,
	}, []string{"queue", "job"})
	m.jobWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "job_wait_seconds",
		Help:    "How long each job this process claimed had been available before it was taken (reserved_at - available_at, by the database clock, in whole seconds).",
		Buckets: jobWaitBuckets,
	}, []string{"queue", "job"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by method, route (the matched ServeMux pattern, or \"unmatched\") and status code.",
		Buckets: httpDurationBuckets,
	}, []string{"method", "route", "status"})
	m.readErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "metrics_read_errors_total",
		Help: "Database reads made for a scrape that failed; the series they feed are left out of that scrape.",
	}, []string{"source"})
	m.queue = newQueueCollector(m, opts)
	m.bookings = newBookingCollector(m, opts)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.jobsProcessed, m.jobsFailed, m.jobsRetried, m.jobsReleased, m.jobsLeaseLost,
		m.jobDuration, m.jobWait, m.httpDuration, m.readErrors,
		m.queue, m.bookings,
	)
	return m
}

// Registry returns the registry, to add collectors or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the /metrics handler. A collector that fails leaves its
// series out and the rest is still served, so one slow table never blinds
// every graph.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
		// Scrapes queue behind one another on the cached database reads
		// anyway; more than a few at once is a misconfiguration.
		MaxRequestsInFlight: 4,
	})
}

// ObserveHTTP records one HTTP request. It implements httpapi's observer,
// which passes the matched ServeMux pattern as route, never the raw path,
// so that the number of series stays bounded.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	m.httpDuration.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}
