package queue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// recorder gathers per-job-class and per-queue, per-minute metrics (and
// completed-job history, when kept) in memory and writes them every
// interval, so that a busy worker adds a few small transactions per
// interval, not one per job. A job counts once, in its class's point; the
// per-queue points are added up from those at each flush.
// Minutes come from the job's reserved_at, the database clock.
type recorder struct {
	store   driver.Metrics
	log     *slog.Logger
	metrics bool
	history bool
	mu      sync.Mutex
	classes map[classKey]*classPoint
	// points and classRetry are what a failed flush could not write, for
	// the next one.
	points     map[metricKey]*driver.JobMetric
	classRetry map[classKey]*driver.JobClassMetric
	completed  []*driver.CompletedJob

	// monitor, when set, holds the monitored tags, re-read at every
	// flush: a completed job carrying one is kept for monitoredKeep,
	// whether or not history is kept.
	monitor       driver.TagMonitor
	monitoredKeep time.Duration
	monitored     [][]byte // the tags as JSON strings, as the payload holds them

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type metricKey struct {
	queue  string
	minute int64
}

type classKey struct {
	kind, queue string
	minute      int64
}

// classPoint is a class's point and, for its queue's point, the sum of
// its jobs' runtimes in whole milliseconds each, as job_metrics adds them.
type classPoint struct {
	driver.JobClassMetric
	runtimeMS int64
}

func newRecorder(store driver.Metrics, log *slog.Logger, interval time.Duration, metrics, history bool,
	monitor driver.TagMonitor, monitoredKeep time.Duration) *recorder {
	r := &recorder{
		store: store, log: log, metrics: metrics, history: history,
		classes: map[classKey]*classPoint{}, points: map[metricKey]*driver.JobMetric{},
		classRetry: map[classKey]*driver.JobClassMetric{},
		stop:       make(chan struct{}), done: make(chan struct{}),
	}
	if monitor != nil && monitoredKeep > 0 {
		r.monitor, r.monitoredKeep = monitor, monitoredKeep
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		if err := r.refreshMonitored(ctx); err != nil {
			log.Warn("queue: read monitored tags", "error", err)
		}
		cancel()
	}
	go r.loop(interval)
	return r
}

func (r *recorder) loop(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			if err := r.flush(ctx); err != nil {
				r.log.Warn("queue: write job metrics", "error", err)
			}
			cancel()
		}
	}
}

// record counts one attempt that ended. Only completions and final
// failures are counted: a retried or released attempt is not a job done.
func (r *recorder) record(row *driver.JobRow, o Outcome) {
	if o.Status != OutcomeSucceeded && o.Status != OutcomeFailed {
		return
	}
	at := row.ReservedAt
	if at.IsZero() {
		at = time.Now()
	}
	var wait time.Duration
	if !row.ReservedAt.IsZero() && row.ReservedAt.After(row.AvailableAt) {
		wait = row.ReservedAt.Sub(row.AvailableAt)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.metrics {
		minute := at.Unix() - at.Unix()%60
		k := classKey{kind: row.Kind, queue: row.Queue, minute: minute}
		c := r.classes[k]
		if c == nil {
			c = &classPoint{JobClassMetric: driver.JobClassMetric{Kind: row.Kind, Queue: row.Queue, Start: time.Unix(minute, 0).UTC(), Span: time.Minute}}
			r.classes[k] = c
		}
		if o.Status == OutcomeSucceeded {
			c.Processed++
		} else {
			c.Failed++
		}
		c.runtimeMS += o.Runtime.Milliseconds()
		c.RuntimeUS += o.Runtime.Microseconds()
		c.Runtime.Observe(o.Runtime)
		c.WaitMS += wait.Milliseconds()
		c.MaxWaitMS = max(c.MaxWaitMS, wait.Milliseconds())
	}
	if o.Status != OutcomeSucceeded {
		return
	}
	var keptFor time.Duration
	for _, t := range r.monitored {
		if bytes.Contains(row.Payload, t) {
			keptFor = r.monitoredKeep
			break
		}
	}
	if r.history || keptFor > 0 {
		r.completed = append(r.completed, &driver.CompletedJob{
			UUID: row.UUID, Queue: row.Queue, Kind: row.Kind, Attempts: row.Attempts,
			RuntimeMS: o.Runtime.Milliseconds(), WaitMS: wait.Milliseconds(),
			JobID: row.ID, Payload: row.Payload, QueuedAt: row.CreatedAt, AvailableAt: row.AvailableAt,
			StartedAt: row.ReservedAt, KeptFor: keptFor, ErrorLog: row.ErrorLog,
		})
	}
}

// refreshMonitored re-reads the monitored tags.
func (r *recorder) refreshMonitored(ctx context.Context) error {
	if r.monitor == nil || r.monitoredKeep <= 0 {
		return nil
	}
	tags, err := r.monitor.TagMonitorList(ctx)
	if err != nil {
		return err
	}
	quoted := make([][]byte, len(tags))
	for i, t := range tags {
		quoted[i] = []byte(`"` + t + `"`)
	}
	r.mu.Lock()
	r.monitored = quoted
	r.mu.Unlock()
	return nil
}

// flush writes what has been gathered; on error it is kept for the next
// flush.
func (r *recorder) flush(ctx context.Context) error {
	r.mu.Lock()
	classes, byQueue, retry := r.classes, r.points, r.classRetry
	completed := r.completed
	r.classes, r.points, r.classRetry, r.completed = map[classKey]*classPoint{}, map[metricKey]*driver.JobMetric{}, map[classKey]*driver.JobClassMetric{}, nil
	r.mu.Unlock()

	classList := make([]*driver.JobClassMetric, 0, len(classes)+len(retry))
	for k, c := range classes {
		qk := metricKey{queue: c.Queue, minute: k.minute}
		p := byQueue[qk]
		if p == nil {
			p = &driver.JobMetric{Queue: c.Queue, Minute: c.Start}
			byQueue[qk] = p
		}
		p.Processed += c.Processed
		p.Failed += c.Failed
		p.RuntimeMS += c.runtimeMS
		p.MaxWaitMS = max(p.MaxWaitMS, c.MaxWaitMS)
		// What an earlier flush could not write joins the class's point
		// (its queue's share is already in byQueue, kept apart).
		if old := retry[k]; old != nil {
			c.Add(old)
			delete(retry, k)
		}
		classList = append(classList, &c.JobClassMetric)
	}
	for _, c := range retry {
		classList = append(classList, c)
	}
	points := make([]*driver.JobMetric, 0, len(byQueue))
	for _, p := range byQueue {
		points = append(points, p)
	}

	var errs []error
	if err := r.refreshMonitored(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := r.store.JobMetricsRecord(ctx, points); err != nil {
		errs = append(errs, err)
		r.mu.Lock()
		for _, p := range points {
			k := metricKey{queue: p.Queue, minute: p.Minute.Unix()}
			if q := r.points[k]; q != nil {
				q.Processed += p.Processed
				q.Failed += p.Failed
				q.RuntimeMS += p.RuntimeMS
				q.MaxWaitMS = max(q.MaxWaitMS, p.MaxWaitMS)
			} else {
				r.points[k] = p
			}
		}
		r.mu.Unlock()
	}
	if err := r.store.JobClassMetricsRecord(ctx, classList); err != nil {
		errs = append(errs, err)
		r.mu.Lock()
		for _, c := range classList {
			k := classKey{kind: c.Kind, queue: c.Queue, minute: c.Start.Unix()}
			if q := r.classRetry[k]; q != nil {
				q.Add(c)
			} else {
				r.classRetry[k] = c
			}
		}
		r.mu.Unlock()
	}
	if err := r.store.CompletedRecord(ctx, completed); err != nil {
		errs = append(errs, err)
		r.mu.Lock()
		r.completed = append(completed, r.completed...)
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (r *recorder) close(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	return r.flush(ctx)
}
