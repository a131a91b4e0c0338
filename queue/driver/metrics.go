package driver

import (
	"context"
	"time"
)

// Metrics is the capability of an Admin over the queue's history: the
// per-queue, per-minute counters (job_metrics) the dashboard charts, and
// the completed jobs kept when the application asks for them.
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
}
