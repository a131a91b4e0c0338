// Package driver defines the interface between the queue engine and its
// storage backends. The engine in package queue holds no SQL: each backend
// package under queue/driver owns its dialect's statements, and the
// shared conformance suite in drivertest defines the behaviour they share.
package driver

import (
	"context"
	"database/sql"
	"time"
)

// JobRow is one job as stored in the jobs table.
type JobRow struct {
	ID    int64
	UUID  string
	Queue string
	Kind  string
	// Payload is the whole JSON payload (Laravel's shape: uuid, displayName,
	// job, maxTries, timeout, backoff, data …) as stored.
	Payload     []byte
	Attempts    int // attempts made, counted when the job is reserved
	MaxAttempts int // 0 means unlimited
	ReservedAt  time.Time
	// LeaseExpiresAt is when the reservation ends unless a heartbeat
	// renews it, by the database clock: set by the claim from its own
	// lease, so that no worker judges another's lease by its own setting.
	LeaseExpiresAt time.Time
	// ClaimSeq counts the job's claims; the claim that returned the row
	// set it, and it names that claim in every outcome write (JobLease).
	ClaimSeq    int64
	AvailableAt time.Time
	CreatedAt   time.Time
	UniqueKey   string
	BatchID     string
	ReservedBy  string
	LastError   string
	// ErrorLog is the errors of the job's earlier failed attempts, as
	// AppendErrorLog writes them (nil when none failed).
	ErrorLog []byte
}

// JobInsertParams describes one job to insert.
type JobInsertParams struct {
	// UUID identifies the job in payloads and failed_jobs; the driver
	// generates one when it is empty.
	UUID string
	// Queue is the queue's name; "default" when empty.
	Queue       string
	Kind        string
	Payload     []byte
	MaxAttempts int
	// AvailableAt, when set, is when the job may first run. When zero the job
	// is available Delay after the database's current time.
	AvailableAt time.Time
	Delay       time.Duration
	// UniqueKey, when set, makes the insert a no-op while another job with
	// the same key exists in the jobs table (pending or running).
	UniqueKey string
	BatchID   string
}

// JobInsertResult is the outcome of one insert: the stored job, or
// Skipped when a job with the same unique key already exists (then ID is
// that job's ID when the backend can tell, else 0).
type JobInsertResult struct {
	ID      int64
	Skipped bool
}

// JobClaimParams asks for up to Max available jobs.
type JobClaimParams struct {
	// Queues in strict priority order: a queue is only drawn from when all
	// queues before it have nothing available.
	Queues   []string
	Max      int
	WorkerID string
	// RetryAfter is the lease of the jobs this claim reserves: the claim
	// stores now + RetryAfter (by the database clock) on each job, and a
	// job whose stored lease has passed is considered abandoned and may be
	// claimed again by anyone, whatever their own RetryAfter. Zero means
	// DefaultLease, Laravel's retry_after. The tables keep whole seconds,
	// so it is rounded up to a second.
	RetryAfter time.Duration
	// Now overrides the database clock (tests only). Zero means the
	// database's own clock.
	Now time.Time
}

// JobLease names one claim of a job: the job and its claim_seq, which
// every claim moves on. Every outcome write and every heartbeat matches
// it (and the worker that claimed), so that a worker whose lease was taken
// over (it stalled past its lease) changes nothing: its job has since been
// claimed again, by another worker or by itself, or has left the table.
type JobLease struct {
	ID    int64
	Claim int64
}

// LeaseOf returns the lease of a claimed job.
func LeaseOf(j *JobRow) JobLease { return JobLease{ID: j.ID, Claim: j.ClaimSeq} }

// CompleteParamsOf returns the params that complete jobs claimed by one
// worker (that of the first job).
func CompleteParamsOf(jobs []*JobRow) *JobCompleteParams {
	p := &JobCompleteParams{Jobs: make([]JobLease, len(jobs))}
	for i, j := range jobs {
		p.Jobs[i] = LeaseOf(j)
	}
	if len(jobs) > 0 {
		p.WorkerID = jobs[0].ReservedBy
	}
	return p
}

// JobCompleteParams deletes finished jobs claimed by WorkerID.
type JobCompleteParams struct {
	WorkerID string
	Jobs     []JobLease
}

// JobRetryParams returns a reserved job to the queue.
type JobRetryParams struct {
	ID int64
	// WorkerID and Claim are the claim's (JobRow.ClaimSeq): the retry is
	// written only while the job is still reserved by that claim.
	WorkerID string
	Claim    int64
	// Delay after the database's current time (or Now) before the job is
	// available again.
	Delay time.Duration
	// Error is recorded in last_error.
	Error string
	// ErrorLog, when set, replaces the job's error log: the retry of a
	// failed attempt appends that attempt's error (AppendErrorLog). A
	// snooze or release leaves it nil and the log as it was.
	ErrorLog []byte
	// Snooze gives the attempt back: the retry does not count against the
	// job's tries.
	Snooze bool
	Now    time.Time
}

// JobFailParams moves a job for good from jobs to failed_jobs.
type JobFailParams struct {
	ID int64
	// WorkerID and Claim are the claim's (JobRow.ClaimSeq): the job moves
	// only while it is still reserved by that claim.
	WorkerID   string
	Claim      int64
	Connection string
	// Exception is the error chain (and the stack for a panic).
	Exception string
	// ErrorLog is the job's error log with the final attempt appended; it
	// goes to failed_jobs with the job.
	ErrorLog []byte
	Now      time.Time
}

// JobHeartbeatParams renews the leases of jobs a worker still holds.
type JobHeartbeatParams struct {
	WorkerID string
	Jobs     []JobLease
	// Lease is the new lease from the database's current time (or Now).
	// Zero means DefaultLease.
	Lease time.Duration
	Now   time.Time
}

// DefaultLease is the lease of a claim or heartbeat that names none, as
// Laravel's database queue's retry_after.
const DefaultLease = 90 * time.Second

// Driver is a queue storage backend.
type Driver interface {
	// Name is the connection name as QUEUE_CONNECTION spells it.
	Name() string
	// JobInsertMany inserts jobs in as few statements as the backend allows.
	JobInsertMany(ctx context.Context, params []*JobInsertParams) ([]JobInsertResult, error)
	// JobInsertManyTx inserts within the caller's transaction: the jobs exist
	// only if tx commits.
	JobInsertManyTx(ctx context.Context, tx *sql.Tx, params []*JobInsertParams) ([]JobInsertResult, error)
	// JobClaim reserves up to Max available jobs in one round trip, setting
	// reserved_at, reserved_by, the lease's end (now + RetryAfter),
	// claim_seq+1 and attempts+1. Distinct concurrent callers never receive the same job
	// while its lease holds. Within each queue, in strict priority order,
	// jobs whose lease expired are taken first, then pending jobs by
	// available_at and id (first in, first out); the result is sorted by
	// queue priority, available_at and id. Deadlocks and busy errors are
	// retried inside the driver, never returned.
	//
	// A job whose lease expired without its worker ever renewing it (no
	// heartbeat, which is also the worker's start mark) is taken again
	// with its attempt given back, once: the claim that reserved it may
	// have lost its reply, so the job may never have run. A job that is
	// reclaimed this way and again expires unrenewed is charged as usual,
	// so a job that kills its worker at once still runs out of tries.
	JobClaim(ctx context.Context, params *JobClaimParams) ([]*JobRow, error)
	// JobCompleteMany deletes finished jobs still held by their claim, in
	// as few statements as the backend allows. It returns the jobs whose
	// claim no longer holds (their lease was taken over, or they are
	// gone): for those nothing was written.
	JobCompleteMany(ctx context.Context, params *JobCompleteParams) (stale []int64, err error)
	// JobRetryMany makes reserved jobs available again after their delay,
	// and returns the jobs whose claim no longer holds, left unchanged.
	JobRetryMany(ctx context.Context, params []*JobRetryParams) (stale []int64, err error)
	// JobFailMany moves jobs to failed_jobs in the transaction that deletes
	// them from jobs, and returns the jobs whose claim no longer holds,
	// left unchanged.
	JobFailMany(ctx context.Context, params []*JobFailParams) (stale []int64, err error)
	// JobHeartbeatMany extends the leases of jobs still held by their
	// claim, marks them started, and returns the jobs whose lease it could
	// not renew: their worker must stop working them at once.
	JobHeartbeatMany(ctx context.Context, params *JobHeartbeatParams) (lost []int64, err error)
	// Now returns the database clock.
	Now(ctx context.Context) (time.Time, error)
	// CacheGet and CachePut read and write the shared cache (the cache
	// table on database backends). Workers use it for signals such as the
	// `queue restart` timestamp. A ttl of 0 keeps the value forever.
	CacheGet(ctx context.Context, key string) (value string, ok bool, err error)
	CachePut(ctx context.Context, key, value string, ttl time.Duration) error
}

// JobGetter is an optional capability of a Driver: reading one job by id
// from wherever the driver keeps its jobs, with ErrNotFound once it has
// left the queue (completed, or failed for good). Job middleware uses it
// to tell a lock held by a job that is over from one held by a job still
// running.
type JobGetter interface {
	JobGet(ctx context.Context, id int64) (*JobRow, error)
}

// ClaimChecker is an optional capability of a Driver: telling whether a
// job is still held by one claim (JobLease) of a worker, inside the
// caller's SQL transaction when the jobs live in that database, where the
// job's row is also locked until the transaction ends. Bookkeeping written
// before a job's outcome (a batch's counters) checks it, so that a worker
// that lost its lease changes nothing there either.
type ClaimChecker interface {
	ClaimHeldTx(ctx context.Context, tx *sql.Tx, workerID string, lease JobLease) (bool, error)
}

// Listener is an optional capability of a Driver that can push "a job was
// inserted on this queue" events (PostgreSQL LISTEN/NOTIFY). Listen blocks
// until ctx ends, calling fn for each event, and then returns nil. Events
// fire when the inserting transaction commits, at most once per queue and
// transaction; a lost connection is reopened, and events sent while it was
// down are lost, so the engine keeps polling as well.
type Listener interface {
	Listen(ctx context.Context, fn func(queue string)) error
}
