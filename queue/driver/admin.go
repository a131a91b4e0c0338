package driver

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ErrNotFound is returned by Admin methods asked for a row that does not
// exist (a failed job, a batch).
var ErrNotFound = errors.New("not found")

// Admin is an optional capability of a Driver: the operator's storage
// (failed jobs, queue statistics, pauses, batches, middleware state,
// metrics and retention). The engine and the commands find it by type
// assertion, as database/sql finds a driver's optional interfaces:
//
//	adm, ok := d.(driver.Admin)
//
// Every decision that depends on time uses the database clock, so that
// any number of servers agree.
type Admin interface {
	// FailedList returns failed jobs, newest first.
	FailedList(ctx context.Context, params *FailedListParams) ([]*FailedJob, error)
	// FailedCount counts failed jobs, optionally of one queue.
	FailedCount(ctx context.Context, queue string) (int, error)
	// FailedGet returns one failed job by its row id or uuid.
	FailedGet(ctx context.Context, idOrUUID string) (*FailedJob, error)
	// FailedRetry puts failed jobs back on their original queue with their
	// attempts reset and deletes their failed rows, in one transaction. It
	// returns the jobs it moved.
	FailedRetry(ctx context.Context, params *FailedRetryParams) ([]*FailedJob, error)
	// FailedForget deletes failed jobs by row id or uuid and returns how
	// many it deleted.
	FailedForget(ctx context.Context, idsOrUUIDs []string) (int, error)
	// FailedFlush deletes every failed job, or those older than
	// OlderThan, in one statement.
	FailedFlush(ctx context.Context, params *FailedFlushParams) (int, error)
	// FailedPrune deletes failed jobs older than OlderThan in chunks, so
	// that a huge table never holds a long lock.
	FailedPrune(ctx context.Context, params *FailedPruneParams) (int, error)

	// QueueClear deletes every job of a queue (pending, delayed and
	// reserved) and returns how many.
	QueueClear(ctx context.Context, queue string) (int, error)
	// QueueStats returns per-queue counters: every queue with jobs, failed
	// jobs or a pause, plus the queues asked for by name.
	QueueStats(ctx context.Context, params *QueueStatsParams) ([]*QueueStat, error)
	// QueuePause stops every worker from taking jobs from a queue; the
	// pause is stored, so it holds for every worker on every server.
	QueuePause(ctx context.Context, queue, by string) error
	// QueueResume lifts a pause. Resuming a queue that is not paused is not
	// an error.
	QueueResume(ctx context.Context, queue string) error
	// QueuePausedList returns the paused queues.
	QueuePausedList(ctx context.Context) ([]*QueuePause, error)

	// BatchCreate stores a new batch (job_batches, Laravel's columns).
	BatchCreate(ctx context.Context, params *BatchCreateParams) (*Batch, error)
	// BatchCreateTx is BatchCreate within the caller's transaction.
	BatchCreateTx(ctx context.Context, tx *sql.Tx, params *BatchCreateParams) (*Batch, error)
	// BatchGet returns one batch.
	BatchGet(ctx context.Context, id string) (*Batch, error)
	// BatchList returns batches, newest first.
	BatchList(ctx context.Context, params *BatchListParams) ([]*Batch, error)
	// BatchCancel marks a batch cancelled (and finished); its remaining jobs
	// are skipped by the workers. Cancelling twice keeps the first time.
	BatchCancel(ctx context.Context, id string) (*Batch, error)
	// BatchRecordOutcome records that one job of a batch succeeded or
	// failed for good, atomically, and returns the batch's counters before
	// and after: each transition (pending reaching 0, the first failure,
	// every job having run) is therefore seen by exactly one caller. It is
	// idempotent per job: a job's outcome moves the counters once (a failed
	// job that is retried and then succeeds moves them again, from failed
	// to succeeded), so it can be recorded before the job's own outcome is
	// written and again when the job reruns after a crash.
	BatchRecordOutcome(ctx context.Context, params *BatchRecordOutcomeParams) (*BatchOutcome, error)
	// BatchPrune deletes finished batches older than OlderThan, and
	// unfinished or cancelled ones older than their own windows, as
	// Laravel's queue:prune-batches.
	BatchPrune(ctx context.Context, params *BatchPruneParams) (int, error)

	// LockAcquire takes an expiring lock (cache_locks) for owner; it reports
	// false when someone else holds it and it has not expired.
	LockAcquire(ctx context.Context, params *LockAcquireParams) (bool, error)
	// LockRelease frees a lock if owner holds it.
	LockRelease(ctx context.Context, key, owner string) error
	// LockOwner returns the owner of a lock that has not expired; ok is
	// false when nobody holds it.
	LockOwner(ctx context.Context, key string) (owner string, ok bool, err error)
	RateLimiter

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

// FailedJob is one row of failed_jobs.
type FailedJob struct {
	ID         int64     `json:"id"`
	UUID       string    `json:"uuid"`
	Connection string    `json:"connection"`
	Queue      string    `json:"queue"`
	Payload    []byte    `json:"-"`
	Exception  string    `json:"exception"`
	FailedAt   time.Time `json:"failed_at"`
}

// FailedListParams filter and page FailedList.
type FailedListParams struct {
	// Queue, when set, keeps only that queue's failed jobs.
	Queue string
	// Limit caps the rows (0 means no cap); Offset skips rows.
	Limit  int
	Offset int
}

// FailedRetryParams say which failed jobs to retry: IDs (row ids or
// uuids), or All; Queue, when set, narrows either to one queue.
type FailedRetryParams struct {
	IDs   []string
	All   bool
	Queue string
	// DefaultMaxAttempts is the jobs.max_attempts of a job whose payload
	// sets no maxTries (the engine's configured tries).
	DefaultMaxAttempts int
}

// FailedFlushParams: OlderThan zero deletes every failed job.
type FailedFlushParams struct {
	OlderThan time.Duration
}

// FailedPruneParams: delete failed jobs older than OlderThan, ChunkSize
// rows per statement (1000 when zero).
type FailedPruneParams struct {
	OlderThan time.Duration
	ChunkSize int
}

// QueueStatsParams name queues to report even when they are empty.
type QueueStatsParams struct {
	Queues []string
}

// QueueStat is the state of one queue.
type QueueStat struct {
	Queue string `json:"queue"`
	// Pending jobs are available now; Delayed ones later; Reserved ones
	// are running (or held by a worker that died, until their lease ends).
	Pending  int `json:"pending"`
	Delayed  int `json:"delayed"`
	Reserved int `json:"reserved"`
	Failed   int `json:"failed"`
	// OldestWait is how long the oldest pending job has been available
	// without being taken, by the database clock.
	OldestWait time.Duration `json:"-"`
	Paused     bool          `json:"paused"`
}

// Size is the number of jobs in the queue (pending, delayed and reserved),
// as Laravel's Queue::size counts it.
func (s *QueueStat) Size() int { return s.Pending + s.Delayed + s.Reserved }

// QueuePause is one paused queue.
type QueuePause struct {
	Queue    string    `json:"queue"`
	PausedAt time.Time `json:"paused_at"`
	PausedBy string    `json:"paused_by"`
}

// Batch is one row of job_batches.
type Batch struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	TotalJobs    int        `json:"total_jobs"`
	PendingJobs  int        `json:"pending_jobs"`
	FailedJobs   int        `json:"failed_jobs"`
	FailedJobIDs []string   `json:"failed_job_ids"`
	Options      []byte     `json:"-"`
	CreatedAt    time.Time  `json:"created_at"`
	CancelledAt  *time.Time `json:"cancelled_at"`
	FinishedAt   *time.Time `json:"finished_at"`
}

// ProcessedJobs is the number of jobs of the batch that have run to an
// end, as Laravel counts it: total minus pending.
func (b *Batch) ProcessedJobs() int { return b.TotalJobs - b.PendingJobs }

// Progress is the percentage of processed jobs, 0–100.
func (b *Batch) Progress() int {
	if b.TotalJobs <= 0 {
		return 0
	}
	return b.ProcessedJobs() * 100 / b.TotalJobs
}

// Cancelled reports whether the batch was cancelled.
func (b *Batch) Cancelled() bool { return b.CancelledAt != nil }

// Finished reports whether the batch has finished.
func (b *Batch) Finished() bool { return b.FinishedAt != nil }

// BatchCreateParams describe a new batch. The batch starts with TotalJobs
// pending jobs.
type BatchCreateParams struct {
	ID        string
	Name      string
	TotalJobs int
	Options   []byte
}

// BatchListParams page BatchList.
type BatchListParams struct {
	Limit  int
	Offset int
}

// BatchRecordOutcomeParams record one job of a batch that ran to an end.
type BatchRecordOutcomeParams struct {
	BatchID string
	JobUUID string
	// Failed is true when the job failed for good; false when it
	// succeeded (or was skipped because its batch was cancelled).
	Failed bool
	// CancelOnFailure cancels the batch in the same transaction when this
	// is its first failure (a batch that does not allow failures).
	CancelOnFailure bool
	// Held, when set, runs first inside the transaction, after the
	// batch's row is locked: when it reports false (the job's claim no
	// longer holds: another worker took it over), nothing is recorded.
	Held func(ctx context.Context, tx *sql.Tx) (bool, error)
	// Then, when set, runs inside the transaction that moved the counters,
	// and only when they moved: the caller dispatches the batch's callback
	// jobs there (JobInsertManyTx), so that callbacks and counters commit
	// together or not at all.
	Then func(ctx context.Context, tx *sql.Tx, out *BatchOutcome) error
}

// BatchOutcome is a batch's counters around one BatchRecordOutcome.
type BatchOutcome struct {
	Before BatchCounts
	Batch  *Batch
	// Recorded is false when the job's outcome was already recorded (the
	// job ran again after its worker died between recording its outcome
	// and deleting it): the counters did not move.
	Recorded bool
}

// BatchCounts are the counters of a batch at one instant.
type BatchCounts struct {
	PendingJobs int
	FailedJobs  int
}

// BatchPruneParams say which batches BatchPrune deletes: finished ones
// that finished more than OlderThan ago (0: every finished batch), and,
// when their windows are set, unfinished ones created more than
// Unfinished ago and cancelled ones cancelled more than Cancelled ago.
type BatchPruneParams struct {
	OlderThan  time.Duration
	Unfinished time.Duration
	Cancelled  time.Duration
}

// LockAcquireParams take lock Key for Owner until TTL passes.
type LockAcquireParams struct {
	Key   string
	Owner string
	TTL   time.Duration
}

// RateLimiter is the fixed-window limiter every server shares: rows of
// queue_rate_limits on the database clock, or keys with a TTL in Redis.
// Job middleware (RateLimited) and the application's own limits (logins,
// bookings, rejected payment notifications) count on it alike.
type RateLimiter interface {
	// RateLimitHit counts one hit on a fixed-window limiter and says
	// whether it is allowed; when it is not, RetryAfter is the time left in
	// the window.
	RateLimitHit(ctx context.Context, params *RateLimitHitParams) (*RateLimitResult, error)
}

// RateLimitHitParams count a hit against Limit hits per Period for Key.
type RateLimitHitParams struct {
	Key    string
	Limit  int
	Period time.Duration
}

// RateLimitResult is the answer of RateLimitHit.
type RateLimitResult struct {
	Allowed    bool
	Remaining  int
	RetryAfter time.Duration
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
}
