package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// recorder gathers per-queue and per-job-class, per-minute metrics (and
// completed-job history, when kept) in memory and writes them every
// interval, so that a busy worker adds a few small transactions per
// interval, not one per job.
// Minutes come from the job's reserved_at, the database clock.
type recorder struct {
	store     driver.Metrics
	log       *slog.Logger
	metrics   bool
	history   bool
	mu        sync.Mutex
	points    map[metricKey]*driver.JobMetric
	classes   map[classKey]*driver.JobClassMetric
	completed []*driver.CompletedJob

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

func newRecorder(store driver.Metrics, log *slog.Logger, interval time.Duration, metrics, history bool) *recorder {
	r := &recorder{
		store: store, log: log, metrics: metrics, history: history,
		points: map[metricKey]*driver.JobMetric{}, classes: map[classKey]*driver.JobClassMetric{},
		stop: make(chan struct{}), done: make(chan struct{}),
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
		k := metricKey{queue: row.Queue, minute: at.Unix() - at.Unix()%60}
		p := r.points[k]
		if p == nil {
			p = &driver.JobMetric{Queue: row.Queue, Minute: time.Unix(k.minute, 0).UTC()}
			r.points[k] = p
		}
		if o.Status == OutcomeSucceeded {
			p.Processed++
		} else {
			p.Failed++
		}
		p.RuntimeMS += o.Runtime.Milliseconds()
		p.MaxWaitMS = max(p.MaxWaitMS, wait.Milliseconds())

		ck := classKey{kind: row.Kind, queue: row.Queue, minute: k.minute}
		c := r.classes[ck]
		if c == nil {
			c = &driver.JobClassMetric{Kind: row.Kind, Queue: row.Queue, Start: p.Minute, Span: time.Minute}
			r.classes[ck] = c
		}
		if o.Status == OutcomeSucceeded {
			c.Processed++
		} else {
			c.Failed++
		}
		c.RuntimeUS += o.Runtime.Microseconds()
		c.Runtime.Observe(o.Runtime)
		c.WaitMS += wait.Milliseconds()
		c.MaxWaitMS = max(c.MaxWaitMS, wait.Milliseconds())
	}
	if r.history && o.Status == OutcomeSucceeded {
		r.completed = append(r.completed, &driver.CompletedJob{
			UUID: row.UUID, Queue: row.Queue, Kind: row.Kind, Attempts: row.Attempts,
			RuntimeMS: o.Runtime.Milliseconds(), WaitMS: wait.Milliseconds(),
		})
	}
}

// flush writes what has been gathered; on error it is kept for the next
// flush.
func (r *recorder) flush(ctx context.Context) error {
	r.mu.Lock()
	points := make([]*driver.JobMetric, 0, len(r.points))
	for _, p := range r.points {
		points = append(points, p)
	}
	classes := make([]*driver.JobClassMetric, 0, len(r.classes))
	for _, c := range r.classes {
		classes = append(classes, c)
	}
	completed := r.completed
	r.points, r.completed = map[metricKey]*driver.JobMetric{}, nil
	r.classes = map[classKey]*driver.JobClassMetric{}
	r.mu.Unlock()

	var errs []error
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
	if err := r.store.JobClassMetricsRecord(ctx, classes); err != nil {
		errs = append(errs, err)
		r.mu.Lock()
		for _, c := range classes {
			k := classKey{kind: c.Kind, queue: c.Queue, minute: c.Start.Unix()}
			if q := r.classes[k]; q != nil {
				q.Add(c)
			} else {
				r.classes[k] = c
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
