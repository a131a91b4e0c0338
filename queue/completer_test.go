package queue

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// claimedPair inserts two jobs into a fresh SQLite queue and claims both
// as worker "w".
func claimedPair(t *testing.T) (*sqldb.DB, *tripinsqlite.Driver, []*driver.JobRow) {
	t.Helper()
	ctx := context.Background()
	db := queuetest.OpenDB(t, sqldb.SQLite)
	d := tripinsqlite.New(db, tripinsqlite.Options{})
	_, err := d.JobInsertMany(ctx, []*driver.JobInsertParams{
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`)},
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`)},
	})
	require.NoError(t, err)
	rows, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 2, WorkerID: "w", RetryAfter: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	return db, d, rows
}

// TestCompleterHeldKeepsUnwrittenOutcomes checks that jobs whose outcome is
// buffered are reported as held (so the worker heartbeats them) until the
// outcome is written, and not after.
func TestCompleterHeldKeepsUnwrittenOutcomes(t *testing.T) {
	ctx := context.Background()
	db, d, rows := claimedPair(t)

	// A long interval and a large batch: nothing is written until flush.
	c := newCompleter(ctx, d, slog.New(slog.DiscardHandler), "w", 1000, time.Hour)
	defer func() { require.NoError(t, c.close(ctx)) }()
	require.Empty(t, c.held())
	c.complete(driver.LeaseOf(rows[0]))
	c.retry(&driver.JobRetryParams{ID: rows[1].ID, WorkerID: "w", Claim: 1, Delay: time.Minute, Error: "again"})
	require.ElementsMatch(t, []driver.JobLease{{ID: rows[0].ID, Claim: 1}, {ID: rows[1].ID, Claim: 1}}, c.held())

	require.Equal(t, 2, c.flush(ctx))
	require.Empty(t, c.held(), "written outcomes are no longer held")
	require.Zero(t, c.stale.Load())
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE reserved_at IS NOT NULL").Scan(&n))
	require.Zero(t, n)
}

// TestCompleterStaleOutcomesChangeNothing: outcomes whose claim was taken
// over by another worker are written as no-ops and counted as stale,
// leaving the new holder's reservation as it is.
func TestCompleterStaleOutcomesChangeNothing(t *testing.T) {
	ctx := context.Background()
	db := queuetest.OpenDB(t, sqldb.SQLite)
	d := tripinsqlite.New(db, tripinsqlite.Options{})
	now, err := d.Now(ctx)
	require.NoError(t, err)
	past := now.Add(-time.Hour)
	_, err = d.JobInsertMany(ctx, []*driver.JobInsertParams{
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`), AvailableAt: past},
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`), AvailableAt: past},
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`), AvailableAt: past},
	})
	require.NoError(t, err)
	old, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 3, WorkerID: "stalled", RetryAfter: time.Minute, Now: now.Add(-2 * time.Minute)})
	require.NoError(t, err)
	require.Len(t, old, 3)
	taken, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 3, WorkerID: "rescuer", RetryAfter: time.Minute})
	require.NoError(t, err)
	require.Len(t, taken, 3, "the stalled worker's leases have passed")

	c := newCompleter(ctx, d, slog.New(slog.DiscardHandler), "stalled", 1000, time.Hour)
	defer func() { require.NoError(t, c.close(ctx)) }()
	c.complete(driver.LeaseOf(old[0]))
	c.retry(&driver.JobRetryParams{ID: old[1].ID, WorkerID: "stalled", Claim: old[1].ClaimSeq, Error: "late"})
	c.fail(&driver.JobFailParams{ID: old[2].ID, WorkerID: "stalled", Claim: old[2].ClaimSeq, Exception: "late"})
	require.Equal(t, 3, c.flush(ctx))
	require.EqualValues(t, 3, c.stale.Load())
	var reserved, failed int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE reserved_by = 'rescuer'").Scan(&reserved))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM failed_jobs").Scan(&failed))
	require.Equal(t, 3, reserved, "the rescuer still holds every job")
	require.Zero(t, failed)
}

// deferringDriver defers the completion of one job a few times, as the
// hooks do when its bookkeeping fails, completing the others it is given,
// and records the ids of each call. Its first call waits for release.
type deferringDriver struct {
	driver.Driver
	id      int64
	defers  atomic.Int32
	first   chan struct{}
	release chan struct{}
	mu      sync.Mutex
	calls   [][]int64
}

func (d *deferringDriver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	d.mu.Lock()
	var ids []int64
	for _, l := range p.Jobs {
		ids = append(ids, l.ID)
	}
	slices.Sort(ids)
	d.calls = append(d.calls, ids)
	n := len(d.calls)
	d.mu.Unlock()
	if n == 1 {
		close(d.first)
		<-d.release
	}
	if d.defers.Add(-1) < 0 {
		return d.Driver.JobCompleteMany(ctx, p)
	}
	rest := &driver.JobCompleteParams{WorkerID: p.WorkerID}
	for _, l := range p.Jobs {
		if l.ID != d.id {
			rest.Jobs = append(rest.Jobs, l)
		}
	}
	var stale []int64
	if len(rest.Jobs) > 0 {
		var err error
		if stale, err = d.Driver.JobCompleteMany(ctx, rest); err != nil {
			return nil, err
		}
	}
	return stale, &deferredError{ids: []int64{d.id}, err: errors.New("bookkeeping storage unavailable")}
}

// TestCompleterDoesNotHoldOthersBehindADeferredOutcome: while one job's
// outcome is retried because its bookkeeping failed, an outcome that
// arrives meanwhile goes with the next try, not after the deferred one
// is finally written.
func TestCompleterDoesNotHoldOthersBehindADeferredOutcome(t *testing.T) {
	ctx := context.Background()
	db, base, rows := claimedPair(t)
	d := &deferringDriver{Driver: base, id: rows[0].ID, first: make(chan struct{}), release: make(chan struct{})}
	d.defers.Store(3)
	c := newCompleter(ctx, d, slog.New(slog.DiscardHandler), "w", 1000, time.Hour)
	defer func() { require.NoError(t, c.close(ctx)) }()

	c.complete(driver.LeaseOf(rows[0]))
	written := make(chan int, 1)
	go func() { written <- c.flush(ctx) }()
	<-d.first
	require.Equal(t, []driver.JobLease{driver.LeaseOf(rows[0])}, c.held(), "an outcome being written is still held")
	c.complete(driver.LeaseOf(rows[1])) // ends while the first is retried
	require.ElementsMatch(t, []driver.JobLease{driver.LeaseOf(rows[0]), driver.LeaseOf(rows[1])}, c.held())
	close(d.release)
	require.Equal(t, 2, <-written)
	require.Empty(t, c.held(), "written outcomes are no longer held")

	d.mu.Lock()
	defer d.mu.Unlock()
	a, b := rows[0].ID, rows[1].ID
	require.Equal(t, [][]int64{{a}, {min(a, b), max(a, b)}, {a}, {a}}, d.calls,
		"the second outcome goes with the first retry, and is not tried again")
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs").Scan(&n))
	require.Zero(t, n)
}
