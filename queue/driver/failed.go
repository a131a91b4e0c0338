package driver

import (
	"context"
	"time"
)

// FailedJobs is the capability of an Admin over failed_jobs: the jobs
// that failed for good, listed, retried, forgotten and pruned by the
// operator (`queue failed`, `queue retry`, the dashboard).
type FailedJobs interface {
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
	// ErrorLog is the errors of the job's attempts, the last one's
	// included (AppendErrorLog); nil for jobs failed before it was kept.
	ErrorLog []byte `json:"-"`
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
	// Progress, when set, is called after each chunk is deleted with the
	// rows deleted so far, so that a long prune can be followed.
	Progress func(deleted int)
}
