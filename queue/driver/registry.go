package driver

import (
	"context"
	"time"
)

// Registry is an optional capability of a Driver: the table of live
// worker and scheduler processes (queue_processes). Each process upserts
// its row on start and on every heartbeat and deletes it on a clean stop;
// the dashboard and `queue stats` list the rows whose heartbeat is recent.
// Found by type assertion, as Admin is.
type Registry interface {
	// ProcessHeartbeat inserts or updates the process's row, setting
	// last_heartbeat to the database's current time.
	ProcessHeartbeat(ctx context.Context, p *Process) error
	// ProcessList returns processes, live ones first; with
	// StaleAfter > 0 it leaves out those whose last heartbeat is older.
	ProcessList(ctx context.Context, params *ProcessListParams) ([]*Process, error)
	// ProcessRemove deletes a process's row (a clean stop).
	ProcessRemove(ctx context.Context, id string) error
	// ProcessPrune deletes rows whose last heartbeat is older than
	// olderThan and returns how many.
	ProcessPrune(ctx context.Context, olderThan time.Duration) (int, error)
}

// Process kinds.
const (
	ProcessWorker    = "worker"
	ProcessScheduler = "scheduler"
)

// Process is one worker or scheduler process.
type Process struct {
	// ID is unique per process run (host:pid:random).
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Queues the worker takes jobs from, in priority order (workers only).
	Queues      []string `json:"queues"`
	Concurrency int      `json:"concurrency"`
	// Running is the number of jobs running now; Jobs names up to ten of
	// them ("Kind#id").
	Running       int       `json:"running"`
	Jobs          []string  `json:"jobs"`
	StartedAt     time.Time `json:"started_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	// Age is how long ago the last heartbeat was, by the database clock
	// (filled by ProcessList).
	Age time.Duration `json:"-"`
}

// ProcessListParams filter ProcessList.
type ProcessListParams struct {
	// Kind, when set, keeps one kind of process.
	Kind string
	// StaleAfter, when positive, leaves out processes whose heartbeat is
	// older.
	StaleAfter time.Duration
}

// JobBrowser is an optional capability of a Driver: listing the jobs
// waiting in a queue, and finding jobs in any state, for the dashboard.
type JobBrowser interface {
	// JobList returns jobs of one state, oldest available first.
	JobList(ctx context.Context, params *JobListParams) ([]*JobRow, error)
	// JobSearch returns jobs in any state (waiting, running, completed
	// and kept, failed), newest first, one keyset page at a time
	// (jobsearch.go).
	JobSearch(ctx context.Context, params *JobSearchParams) (*JobSearchPage, error)
	// JobFind returns one job in whatever state it is now, or
	// ErrNotFound.
	JobFind(ctx context.Context, params *JobFindParams) (*JobEntry, error)
}

// Job states JobList selects.
const (
	JobStatePending  = "pending"  // available now, not reserved
	JobStateDelayed  = "delayed"  // available later
	JobStateReserved = "reserved" // taken by a worker
)

// JobListParams select JobList's jobs.
type JobListParams struct {
	// State is one of JobStatePending, JobStateDelayed, JobStateReserved.
	State string
	// Queue, when set, keeps one queue.
	Queue  string
	Limit  int
	Offset int
	// After, when set, starts the list after that job in the list's
	// order (available_at, then id): the next page of a keyset listing,
	// whose cost does not grow with the pages before it as Offset's does.
	After *JobListCursor
}

// JobListCursor is a position in a JobList: the job it names and those before
// it are skipped.
type JobListCursor struct {
	AvailableAt time.Time
	ID          int64
}

// CursorOf returns the cursor just past row.
func CursorOf(row *JobRow) *JobListCursor {
	return &JobListCursor{AvailableAt: row.AvailableAt, ID: row.ID}
}

// Before tells whether row comes at or before c in a JobList's order, and
// is so skipped by a list that starts after c.
func (c *JobListCursor) Before(row *JobRow) bool {
	a, b := row.AvailableAt.Unix(), c.AvailableAt.Unix()
	return a < b || a == b && row.ID <= c.ID
}
