package queue

import (
	"context"
	"database/sql"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// JobArgs is the typed arguments of a job. Kind names the job in payloads
// and logs (for example "SendInvoiceEmail") and selects its worker. Args are
// stored as JSON, so they must never hold secrets.
type JobArgs interface {
	Kind() string
}

// JobArgsWithInsertOpts is implemented by args whose kind has defaults
// (queue, tries, timeout, backoff); per-dispatch InsertOpts override them.
type JobArgsWithInsertOpts interface {
	InsertOpts() InsertOpts
}

// TriesUnlimited as InsertOpts.Tries means the job retries until it
// succeeds or its RetryUntil passes.
const TriesUnlimited = -1

// InsertOpts are per-job options. Zero values mean "use the kind's default,
// then the engine's".
type InsertOpts struct {
	Queue string
	// Tries is the maximum number of attempts; TriesUnlimited for no limit.
	Tries   int
	Timeout time.Duration
	// Backoff between attempts: one value, or one per attempt with the last
	// repeating. Empty means exponential with jitter.
	Backoff []time.Duration
	// Delay or RunAt postpone the first attempt.
	Delay time.Duration
	RunAt time.Time
	// RetryUntil, when set, stops retries after this time.
	RetryUntil time.Time
	// UniqueKey skips the insert while a job with the same key is pending or
	// running.
	UniqueKey string
	// Tags label the job for search ("booking:42", "user:7"), as Horizon's
	// tags: they are stored in the payload's "tags" and kept with the job
	// when it completes or fails. Dispatch tags are added to the kind's.
	Tags []string
}

// JobArgsWithTags is implemented by args that tag their jobs from their
// own fields (the booking a job is about); the client adds these tags to
// the InsertOpts ones.
type JobArgsWithTags interface {
	Tags() []string
}

// InsertResult reports one insert.
type InsertResult struct {
	ID int64
	// Skipped is true when a job with the same unique key already existed.
	Skipped bool
}

// Job is a job handed to its worker: the stored row and its decoded args.
type Job[T JobArgs] struct {
	*driver.JobRow
	Args T
	// Tx is the transaction the job was inserted in, when the sync
	// connection runs it inline inside InsertTx, before that transaction
	// commits: rows written in it are visible only through Tx (and on
	// SQLite another connection would wait for it forever). It is nil
	// whenever a worker runs the job.
	Tx *sql.Tx
}

// Worker works jobs of one kind. Returning nil completes the job; an error
// retries it (or fails it for good after its tries), unless the error is
// marked with Permanent or Snooze.
type Worker[T JobArgs] interface {
	Work(ctx context.Context, job *Job[T]) error
}
