package driver

import (
	"context"
	"time"
)

// Metrics is the capability of an Admin over the queue's history: the
// per-queue, per-minute counters (job_metrics) the dashboard charts, the
// same per job class (job_class_metrics), and the completed jobs kept when
// the application asks for them.
type Metrics interface {
	// JobMetricsRecord adds per-queue, per-minute counters (processed,
	// failed, runtime) and raises the minute's maximum wait, in one
	// transaction for the whole batch of points.
	JobMetricsRecord(ctx context.Context, points []*JobMetric) error
	// JobMetricsList returns the points since a time, oldest first.
	JobMetricsList(ctx context.Context, params *JobMetricsListParams) ([]*JobMetric, error)
	// JobMetricsPrune deletes points older than OlderThan.
	JobMetricsPrune(ctx context.Context, olderThan time.Duration) (int, error)
	// CompletedRecord keeps completed jobs as history (when the
	// application asks for it).
	CompletedRecord(ctx context.Context, jobs []*CompletedJob) error
	// CompletedPrune deletes completed-job history older than OlderThan.
	CompletedPrune(ctx context.Context, olderThan time.Duration) (int, error)

	// The same history per job class (job_class_metrics): throughput,
	// failures, runtime (its sum and a histogram, for p95) and wait per
	// job class and queue, per minute, and per hour once the minutes are
	// rolled up.
	//
	// JobClassMetricsRecord adds per-minute points of job classes, in one
	// transaction for the whole batch: counters, sums and histogram
	// buckets are added, the maximum wait is raised.
	JobClassMetricsRecord(ctx context.Context, points []*JobClassMetric) error
	// JobClassMetricsList returns the minutes and hours that start at or
	// after Since, oldest first.
	JobClassMetricsList(ctx context.Context, params *JobClassMetricsListParams) ([]*JobClassMetric, error)
	// JobClassMetricsRollup merges the minutes of every hour that ended
	// more than OlderThan ago (by the database clock) into one point per
	// hour, job class and queue, one hour per transaction, and returns the
	// minute points it replaced.
	JobClassMetricsRollup(ctx context.Context, params *JobClassMetricsRollupParams) (int, error)
	// JobClassMetricsPrune deletes the minutes and hours that started
	// more than OlderThan ago.
	JobClassMetricsPrune(ctx context.Context, olderThan time.Duration) (int, error)
}

// JobMetric is one queue's counters for one minute.
type JobMetric struct {
	Queue     string    `json:"queue"`
	Minute    time.Time `json:"minute"`
	Processed int       `json:"processed"`
	Failed    int       `json:"failed"`
	RuntimeMS int64     `json:"runtime_ms"`
	MaxWaitMS int64     `json:"max_wait_ms"`
}

// JobMetricsListParams select metrics: Since (by the minute), and Queue
// when set.
type JobMetricsListParams struct {
	Since time.Time
	Queue string
}

// CompletedJob is one completed job kept as history.
type CompletedJob struct {
	UUID        string
	Queue       string
	Kind        string
	Attempts    int
	RuntimeMS   int64
	WaitMS      int64
	CompletedAt time.Time
	// JobID is the job's id in the jobs table; Payload its payload (with
	// its tags); QueuedAt, AvailableAt and StartedAt its created_at,
	// available_at and last reserved_at. Zero values are stored as
	// unknown.
	JobID       int64
	Payload     []byte
	QueuedAt    time.Time
	AvailableAt time.Time
	StartedAt   time.Time
	// KeptFor, for a job with a monitored tag, is how long after its
	// completion it is kept whatever the completed-jobs retention; zero
	// for the others.
	KeptFor time.Duration
	// ErrorLog is the errors of the job's failed attempts before the one
	// that completed it.
	ErrorLog []byte
}

// RuntimeBucketsMS are the upper bounds, in milliseconds, of a runtime
// histogram's buckets; a last bucket, past the final bound, takes the
// rest. They are fixed, so that the histograms of any minutes and hours
// add up bucket by bucket.
var RuntimeBucketsMS = [RuntimeBuckets - 1]float64{1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// RuntimeBuckets is the number of buckets of a RuntimeHistogram.
const RuntimeBuckets = 16

// RuntimeHistogram counts runtimes per bucket of RuntimeBucketsMS.
type RuntimeHistogram [RuntimeBuckets]int

// Observe counts one runtime.
func (h *RuntimeHistogram) Observe(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	i := 0
	for i < len(RuntimeBucketsMS) && ms > RuntimeBucketsMS[i] {
		i++
	}
	h[i]++
}

// Add adds o's counts to h.
func (h *RuntimeHistogram) Add(o *RuntimeHistogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count is the number of runtimes counted.
func (h *RuntimeHistogram) Count() int {
	n := 0
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 < q <= 1) of the runtimes counted,
// interpolating linearly inside the bucket it falls in; the last bucket,
// which has no upper bound, answers its lower one. It is 0 when nothing
// was counted.
func (h *RuntimeHistogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	seen := 0.0
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = RuntimeBucketsMS[i-1]
			}
			if i == len(RuntimeBucketsMS) {
				return time.Duration(lo * float64(time.Millisecond))
			}
			hi := RuntimeBucketsMS[i]
			ms := lo + (hi-lo)*(rank-seen)/float64(c)
			return time.Duration(ms * float64(time.Millisecond))
		}
		seen += float64(c)
	}
	return time.Duration(RuntimeBucketsMS[len(RuntimeBucketsMS)-1] * float64(time.Millisecond))
}

// JobClassMetric is one job class's counters on one queue for one period:
// a minute (Span time.Minute) or, once rolled up, an hour (time.Hour).
type JobClassMetric struct {
	Kind  string        `json:"kind"`
	Queue string        `json:"queue"`
	Start time.Time     `json:"start"`
	Span  time.Duration `json:"span"`
	// Processed and Failed count the jobs that completed and the jobs
	// that failed for good; a retried attempt counts in neither.
	Processed int `json:"processed"`
	Failed    int `json:"failed"`
	// RuntimeUS is the sum of those jobs' runtimes, in microseconds, and
	// Runtime their histogram.
	RuntimeUS int64            `json:"runtime_us"`
	Runtime   RuntimeHistogram `json:"runtime_buckets"`
	// WaitMS is the sum of the time those jobs waited to be reserved once
	// available, and MaxWaitMS the longest.
	WaitMS    int64 `json:"wait_ms"`
	MaxWaitMS int64 `json:"max_wait_ms"`
}

// Jobs is the number of jobs counted: processed and failed.
func (m *JobClassMetric) Jobs() int { return m.Processed + m.Failed }

// Add merges o into m: counters, sums and buckets add up, the maximum wait
// is the larger one. Kind, Queue, Start and Span stay m's.
func (m *JobClassMetric) Add(o *JobClassMetric) {
	m.Processed += o.Processed
	m.Failed += o.Failed
	m.RuntimeUS += o.RuntimeUS
	m.Runtime.Add(&o.Runtime)
	m.WaitMS += o.WaitMS
	m.MaxWaitMS = max(m.MaxWaitMS, o.MaxWaitMS)
}

// JobClassMetricsListParams select class metrics: Since (by the minute),
// and Kind and Queue when set.
type JobClassMetricsListParams struct {
	Since time.Time
	Kind  string
	Queue string
}

// JobClassMetricsRollupParams: roll up the minutes of the hours that ended
// more than OlderThan ago.
type JobClassMetricsRollupParams struct {
	OlderThan time.Duration
}
