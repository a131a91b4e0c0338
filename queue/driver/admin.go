package driver

import "errors"

// ErrNotFound is returned by Admin methods asked for a row that does not
// exist (a failed job, a batch).
var ErrNotFound = errors.New("not found")

// Admin is an optional capability of a Driver: the operator's storage
// (failed jobs, queue statistics, pauses, batches, locks, the shared rate
// limiter, metrics and history), as the union of the capabilities below.
// The engine and the commands find it, or the one capability they need,
// by type assertion, as database/sql finds a driver's optional interfaces:
//
//	adm, ok := d.(driver.Admin)
//	fj, ok := d.(driver.FailedJobs)
//
// Every decision that depends on time uses the database clock, so that
// any number of servers agree.
type Admin interface {
	FailedJobs
	Queues
	Batches
	Locks
	RateLimiter
	Metrics
}
