package telemetry

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tripintravel/tripin/queue/driver"
)

// WatchQueue makes the scrape report the depth of every queue stored by d
// (when d implements driver.Queues) and the live worker and scheduler
// processes (when it implements driver.Registry). Pass the driver itself,
// not the one queue.WithHooks wraps it in, so that every optional
// capability it has is visible. A later call replaces the driver; nil
// stops the reports.
//
// The numbers are the database's, the same from every process: graph them
// with max by (queue), not sum.
func (m *Metrics) WatchQueue(d driver.Driver) {
	m.queue.watch(d)
}

// KeepQueues names queues to report even while they hold no job, so that
// their series read 0 instead of disappearing (an alert on "no series"
// is easy to get wrong). Queues with jobs, failed jobs or a pause are
// reported anyway.
func (m *Metrics) KeepQueues(queues ...string) {
	m.queue.keepQueues(queues)
}

// stateFailed is the tripin_queue_jobs state of jobs in failed_jobs; the
// other states are named as driver.JobList names them.
const stateFailed = "failed"

// queueCollector reads queue statistics and live processes at scrape
// time.
type queueCollector struct {
	staleAfter time.Duration
	countLimit int

	mu   sync.Mutex
	qs   driver.Queues
	reg  driver.Registry
	keep []string

	stats *snapshot[[]*driver.QueueStat]
	procs *snapshot[[]*driver.Process]

	jobs       *prometheus.Desc
	limitDesc  *prometheus.Desc
	oldestWait *prometheus.Desc
	paused     *prometheus.Desc
	workers    *prometheus.Desc
}

func newQueueCollector(m *Metrics, opts Options) *queueCollector {
	return &queueCollector{
		staleAfter: opts.StaleAfter,
		countLimit: opts.CountLimit,
		stats:      newSnapshot[[]*driver.QueueStat](m, "queue_stats", opts),
		procs:      newSnapshot[[]*driver.Process](m, "processes", opts),
		jobs: prometheus.NewDesc(prometheus.BuildFQName(namespace, "queue", "jobs"),
			"Jobs in each queue by state: pending (available now), delayed (available later), reserved (running, or held by a dead worker until its lease ends) and failed (in failed_jobs). Database-wide. Pending, delayed and reserved counts stop one above tripin_queue_count_limit: a value above the limit means more than the limit.",
			[]string{"queue", "state"}, nil),
		limitDesc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "queue", "count_limit"),
			"Where the pending, delayed and reserved counts of tripin_queue_jobs stop (a value above it means more than it); 0 when they are exact.",
			nil, nil),
		oldestWait: prometheus.NewDesc(prometheus.BuildFQName(namespace, "queue", "oldest_wait_seconds"),
			"How long the oldest pending job of each queue has been available without being taken, by the database clock; 0 when none is pending.",
			[]string{"queue"}, nil),
		paused: prometheus.NewDesc(prometheus.BuildFQName(namespace, "queue", "paused"),
			"1 while the queue is paused (tripin queue pause), else 0.",
			[]string{"queue"}, nil),
		workers: prometheus.NewDesc(prometheus.BuildFQName(namespace, "workers", "live"),
			"Worker and scheduler processes whose last heartbeat is recent, by kind. Database-wide.",
			[]string{"kind"}, nil),
	}
}

func (c *queueCollector) watch(d driver.Driver) {
	c.mu.Lock()
	c.qs, _ = d.(driver.Queues)
	c.reg, _ = d.(driver.Registry)
	c.mu.Unlock()
	c.stats.reset()
	c.procs.reset()
}

func (c *queueCollector) keepQueues(queues []string) {
	c.mu.Lock()
	for _, q := range queues {
		if q != "" && !slices.Contains(c.keep, q) {
			c.keep = append(c.keep, q)
		}
	}
	c.mu.Unlock()
	c.stats.reset()
}

func (c *queueCollector) sources() (driver.Queues, driver.Registry, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.qs, c.reg, slices.Clone(c.keep)
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.limitDesc
	ch <- c.oldestWait
	ch <- c.paused
	ch <- c.workers
}

// Collect implements prometheus.Collector. A failed read leaves its
// series out of this scrape (and is logged and counted by the snapshot):
// a gap in a graph is honest, a zero would not be.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	qs, reg, keep := c.sources()
	if qs != nil {
		stats, err := c.stats.get(func(ctx context.Context) ([]*driver.QueueStat, error) {
			return qs.QueueStats(ctx, &driver.QueueStatsParams{Queues: keep, CountLimit: c.countLimit})
		})
		if err == nil {
			// The limit the counts were read with (none on Redis, whose
			// counts are exact at any size).
			limit := 0
			for _, s := range stats {
				limit = max(limit, s.CountLimit)
			}
			ch <- prometheus.MustNewConstMetric(c.limitDesc, prometheus.GaugeValue, float64(limit))
			for _, s := range stats {
				for _, v := range []struct {
					state string
					n     int
				}{
					{driver.JobStatePending, s.Pending}, {driver.JobStateDelayed, s.Delayed},
					{driver.JobStateReserved, s.Reserved}, {stateFailed, s.Failed},
				} {
					ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(v.n), s.Queue, v.state)
				}
				ch <- prometheus.MustNewConstMetric(c.oldestWait, prometheus.GaugeValue, s.OldestWait.Seconds(), s.Queue)
				paused := 0.0
				if s.Paused {
					paused = 1
				}
				ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, s.Queue)
			}
		}
	}
	if reg != nil {
		procs, err := c.procs.get(func(ctx context.Context) ([]*driver.Process, error) {
			return reg.ProcessList(ctx, &driver.ProcessListParams{StaleAfter: c.staleAfter})
		})
		if err == nil {
			// Both kinds are always reported, so that "no worker alive"
			// reads 0 rather than as a missing series.
			live := map[string]int{driver.ProcessWorker: 0, driver.ProcessScheduler: 0}
			for _, p := range procs {
				live[p.Kind]++
			}
			for kind, n := range live {
				ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(n), kind)
			}
		}
	}
}
