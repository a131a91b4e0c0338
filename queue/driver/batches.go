package driver

import (
	"context"
	"database/sql"
	"time"
)

// Batches is the capability of an Admin over job_batches: the batches
// the engine creates, counts down and cancels, and the operator lists and
// prunes.
type Batches interface {
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
