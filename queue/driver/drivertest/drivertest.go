// Package drivertest is the conformance suite every queue driver passes:
// Exercise runs it against a driver on a real database, so that the
// engine can rely on one behaviour whatever the backend. It plays the part
// of River's riverdrivertest.
package drivertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Setup returns a driver on a fresh, migrated database for one test, and
// that database (nil for a backend that is not SQL; tests that must look at
// tables or need a *sql.Tx then skip).
type Setup func(t *testing.T) (driver.Driver, *sqldb.DB)

// Exercise runs the conformance suite. Each test gets its own database from
// setup and runs in parallel with the others.
func Exercise(t *testing.T, setup Setup) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"InsertAndClaimInIDOrder", testInsertAndClaimInIDOrder},
		{"InsertDefaults", testInsertDefaults},
		{"QueuePriority", testQueuePriority},
		{"Delay", testDelay},
		{"MaxPerClaim", testMaxPerClaim},
		{"ConcurrentClaimers", testConcurrentClaimers},
		{"ConcurrentWorkers", testConcurrentWorkers},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseStoredOnRow", testLeaseStoredOnRow},
		{"StaleOutcomes", testStaleOutcomes},
		{"SameWorkerRetakesItsJob", testSameWorkerRetakesItsJob},
		{"JobGet", testJobGet},
		{"Heartbeat", testHeartbeat},
		{"Retry", testRetry},
		{"Snooze", testSnooze},
		{"Fail", testFail},
		{"UniqueKey", testUniqueKey},
		{"InsertTx", testInsertTx},
		{"Complete", testComplete},
		{"Cache", testCache},
		{"Clock", testClock},
		{"ProcessHeartbeat", testProcessHeartbeat},
		{"ProcessList", testProcessList},
		{"ProcessPrune", testProcessPrune},
		{"JobList", testJobList},
		{"JobClassMetrics", testJobClassMetrics},
		{"JobSearchByTag", testJobSearchByTag},
		{"JobSearchKeyset", testJobSearchKeyset},
		{"CompletedKeep", testCompletedKeep},
		{"ErrorLog", testErrorLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, db := setup(t)
			tc.fn(t, &harness{d: d, db: db, ctx: context.Background()})
		})
	}
}

type harness struct {
	d   driver.Driver
	db  *sqldb.DB
	ctx context.Context
}

func (h *harness) needDB(t *testing.T) {
	t.Helper()
	if h.db == nil {
		t.Skip("drivertest: the backend has no SQL database")
	}
}

func job(queue, kind string) *driver.JobInsertParams {
	u := uuid.NewString()
	return &driver.JobInsertParams{
		UUID:        u,
		Queue:       queue,
		Kind:        kind,
		Payload:     fmt.Appendf(nil, `{"uuid":%q,"displayName":%q,"data":{"n":1}}`, u, kind),
		MaxAttempts: 3,
	}
}

func (h *harness) insert(t *testing.T, params ...*driver.JobInsertParams) []driver.JobInsertResult {
	t.Helper()
	res, err := h.d.JobInsertMany(h.ctx, params)
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if len(res) != len(params) {
		t.Fatalf("insert: %d results for %d jobs", len(res), len(params))
	}
	return res
}

func (h *harness) insertN(t *testing.T, queue string, n int) []int64 {
	t.Helper()
	params := make([]*driver.JobInsertParams, n)
	for i := range params {
		params[i] = job(queue, "noop")
	}
	var ids []int64
	for _, r := range h.insert(t, params...) {
		if r.Skipped || r.ID == 0 {
			t.Fatalf("insert: unexpected result %+v", r)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func (h *harness) claim(t *testing.T, p driver.JobClaimParams) []*driver.JobRow {
	t.Helper()
	if p.WorkerID == "" {
		p.WorkerID = "worker-1"
	}
	if p.RetryAfter == 0 {
		p.RetryAfter = time.Minute
	}
	jobs, err := h.d.JobClaim(h.ctx, &p)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(jobs) > p.Max {
		t.Fatalf("claim: got %d jobs, asked for at most %d", len(jobs), p.Max)
	}
	return jobs
}

// complete completes claimed jobs, grouped by the worker that claimed
// them, and fails the test on an error or a stale completion.
func (h *harness) complete(t *testing.T, jobs []*driver.JobRow) {
	t.Helper()
	if stale, err := Complete(h.ctx, h.d, jobs); err != nil || len(stale) > 0 {
		t.Fatalf("complete %v: stale %v, %v", ids(jobs), stale, err)
	}
}

// Complete completes claimed jobs, grouped by the worker that claimed
// them, and returns the ids whose claim no longer held.
func Complete(ctx context.Context, d driver.Driver, jobs []*driver.JobRow) ([]int64, error) {
	var stale []int64
	byWorker := map[string][]*driver.JobRow{}
	var order []string
	for _, j := range jobs {
		if _, ok := byWorker[j.ReservedBy]; !ok {
			order = append(order, j.ReservedBy)
		}
		byWorker[j.ReservedBy] = append(byWorker[j.ReservedBy], j)
	}
	for _, w := range order {
		s, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(byWorker[w]))
		if err != nil {
			return stale, err
		}
		stale = append(stale, s...)
	}
	return stale, nil
}

// retryOf returns the params that retry a claimed job.
func retryOf(j *driver.JobRow) *driver.JobRetryParams {
	return &driver.JobRetryParams{ID: j.ID, WorkerID: j.ReservedBy, Claim: j.ClaimSeq}
}

// failOf returns the params that fail a claimed job for good.
func failOf(j *driver.JobRow, exception string) *driver.JobFailParams {
	return &driver.JobFailParams{ID: j.ID, WorkerID: j.ReservedBy, Claim: j.ClaimSeq, Connection: "database", Exception: exception}
}

func (h *harness) now(t *testing.T) time.Time {
	t.Helper()
	now, err := h.d.Now(h.ctx)
	if err != nil {
		t.Fatalf("now: %v", err)
	}
	return now
}

func ids(jobs []*driver.JobRow) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func queues(jobs []*driver.JobRow) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Queue
	}
	return out
}

// row is a job as read back from the table.
type row struct {
	attempts    int
	reservedAt  sql.NullInt64
	availableAt int64
	reservedBy  sql.NullString
	lastError   sql.NullString
}

func (h *harness) row(t *testing.T, id int64) (row, bool) {
	t.Helper()
	h.needDB(t)
	var r row
	err := h.db.QueryRowContext(h.ctx, h.db.Rebind(
		"SELECT attempts, reserved_at, available_at, reserved_by, last_error FROM jobs WHERE id = ?"), id).
		Scan(&r.attempts, &r.reservedAt, &r.availableAt, &r.reservedBy, &r.lastError)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false
	}
	if err != nil {
		t.Fatalf("read job %d: %v", id, err)
	}
	return r, true
}

func (h *harness) count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	h.needDB(t)
	var n int
	if err := db.QueryRowContext(h.ctx, h.db.Rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func testInsertAndClaimInIDOrder(t *testing.T, h *harness) {
	before := h.now(t)
	params := []*driver.JobInsertParams{job("default", "a"), job("default", "b"), job("default", "c"), job("default", "d"), job("default", "e")}
	params[1].BatchID = uuid.NewString()
	params[2].MaxAttempts = 0
	res := h.insert(t, params...)
	for i, r := range res {
		if r.Skipped || r.ID == 0 {
			t.Fatalf("result %d = %+v, want an inserted job", i, r)
		}
		if i > 0 && r.ID <= res[i-1].ID {
			t.Fatalf("ids not increasing in insert order: %+v", res)
		}
	}
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 3, WorkerID: "w-order"})
	if want := []int64{res[0].ID, res[1].ID, res[2].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("first claim = %v, want %v", ids(got), want)
	}
	for i, j := range got {
		p := params[i]
		if j.UUID != p.UUID || j.Queue != "default" || j.Kind != p.Kind || string(j.Payload) != string(p.Payload) ||
			j.MaxAttempts != p.MaxAttempts || j.BatchID != p.BatchID {
			t.Errorf("job %d = %+v, want the values of %+v", i, j, p)
		}
		if j.Attempts != 1 || j.ReservedBy != "w-order" {
			t.Errorf("job %d: attempts %d reserved_by %q, want 1 and w-order", i, j.Attempts, j.ReservedBy)
		}
		if j.ReservedAt.Before(before.Add(-2*time.Second)) || j.ReservedAt.After(before.Add(5*time.Second)) {
			t.Errorf("job %d: reserved_at %v, want about %v", i, j.ReservedAt, before)
		}
		if j.CreatedAt.Before(before.Add(-2*time.Second)) || j.AvailableAt.After(before.Add(2*time.Second)) {
			t.Errorf("job %d: created_at %v available_at %v, want about %v", i, j.CreatedAt, j.AvailableAt, before)
		}
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10})
	if want := []int64{res[3].ID, res[4].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("second claim = %v, want %v", ids(got), want)
	}
	if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10}); len(got) != 0 {
		t.Fatalf("third claim = %v, want nothing", ids(got))
	}
}

func testInsertDefaults(t *testing.T, h *harness) {
	res := h.insert(t, &driver.JobInsertParams{Kind: "noop", Payload: []byte(`{}`)}, &driver.JobInsertParams{Kind: "noop", Payload: []byte(`{}`)})
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10})
	if !slices.Equal(ids(got), []int64{res[0].ID, res[1].ID}) {
		t.Fatalf("claim from default = %v, want %+v (an empty queue means default)", ids(got), res)
	}
	for _, j := range got {
		if _, err := uuid.Parse(j.UUID); err != nil {
			t.Fatalf("generated uuid %q: %v", j.UUID, err)
		}
		if j.MaxAttempts != 0 || j.Attempts != 1 || j.UniqueKey != "" || j.BatchID != "" || j.LastError != "" {
			t.Fatalf("job = %+v, want zero values stored as such", j)
		}
	}
	if got[0].UUID == got[1].UUID {
		t.Fatalf("two jobs got the same uuid %s", got[0].UUID)
	}
}

func testQueuePriority(t *testing.T, h *harness) {
	low := h.insertN(t, "low", 3)
	high := h.insertN(t, "high", 2)
	h.insertN(t, "other", 2)
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"high", "low"}, Max: 1})
	if !slices.Equal(ids(got), high[:1]) {
		t.Fatalf("claim 1 = %v %v, want %v from high", ids(got), queues(got), high[:1])
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"high", "low"}, Max: 3})
	if want := []int64{high[1], low[0], low[1]}; !slices.Equal(ids(got), want) {
		t.Fatalf("claim 2 = %v %v, want %v (rest of high, then low)", ids(got), queues(got), want)
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"high", "low"}, Max: 10})
	if want := low[2:]; !slices.Equal(ids(got), want) {
		t.Fatalf("claim 3 = %v, want %v and nothing from other", ids(got), want)
	}
}

func testDelay(t *testing.T, h *harness) {
	now := h.now(t)
	delayed := job("default", "delayed")
	delayed.Delay = time.Hour
	runAt := job("default", "run-at")
	runAt.AvailableAt = now.Add(2 * time.Hour)
	past := job("default", "past")
	past.AvailableAt = now.Add(-time.Hour)
	res := h.insert(t, delayed, runAt, past)

	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10})
	if want := []int64{res[2].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("claim now = %v, want only the job available in the past %v", ids(got), want)
	}
	h.complete(t, got)
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, Now: now.Add(30 * time.Minute)})
	if len(got) != 0 {
		t.Fatalf("claim at +30m = %v, want nothing", ids(got))
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, Now: now.Add(61 * time.Minute)})
	if want := []int64{res[0].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("claim at +61m = %v, want the delayed job %v", ids(got), want)
	}
	if d := got[0].AvailableAt.Sub(now); d < time.Hour-2*time.Second || d > time.Hour+2*time.Second {
		t.Fatalf("delayed job available_at is now+%v, want now+1h", d)
	}
	h.complete(t, got)
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, Now: now.Add(121 * time.Minute)})
	if want := []int64{res[1].ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("claim at +121m = %v, want the run-at job %v", ids(got), want)
	}
	if !got[0].AvailableAt.Equal(runAt.AvailableAt.Truncate(time.Second)) {
		t.Fatalf("run-at job available_at = %v, want %v", got[0].AvailableAt, runAt.AvailableAt)
	}
}

func testMaxPerClaim(t *testing.T, h *harness) {
	h.insertN(t, "default", 10)
	for i, want := range []int{4, 4, 2, 0} {
		if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 4}); len(got) != want {
			t.Fatalf("claim %d: got %d jobs, want %d", i, len(got), want)
		}
	}
}

func testConcurrentClaimers(t *testing.T, h *harness) {
	const total, claimers = 2000, 8
	inserted := h.insertN(t, "default", total)
	var (
		mu      sync.Mutex
		seen    = map[int64]string{}
		errs    []error
		wg      sync.WaitGroup
		claimed int
	)
	for w := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("worker-%d", w)
			for empty := 0; empty < 3; {
				jobs, err := h.d.JobClaim(h.ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1 + w*7, WorkerID: worker, RetryAfter: time.Hour})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if len(jobs) == 0 {
					empty++
					continue
				}
				mu.Lock()
				for _, j := range jobs {
					if other, dup := seen[j.ID]; dup {
						errs = append(errs, fmt.Errorf("job %d claimed by %s and %s", j.ID, other, worker))
					}
					seen[j.ID] = worker
					if j.ReservedBy != worker {
						errs = append(errs, fmt.Errorf("job %d reserved_by %q, want %q", j.ID, j.ReservedBy, worker))
					}
				}
				claimed += len(jobs)
				mu.Unlock()
				if _, err := Complete(h.ctx, h.d, jobs[:len(jobs)/2]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if claimed != total {
		t.Fatalf("claimed %d jobs in all, want %d", claimed, total)
	}
	for _, id := range inserted {
		if _, ok := seen[id]; !ok {
			t.Fatalf("job %d was never claimed", id)
		}
	}
}

func testLeaseExpiry(t *testing.T, h *harness) {
	now := h.now(t)
	first := job("default", "noop")
	first.AvailableAt = now.Add(-time.Hour)
	id := h.insert(t, first)[0].ID
	lease := 60 * time.Second
	claimed := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "dead", RetryAfter: lease, Now: now})
	if len(claimed) != 1 || claimed[0].Attempts != 1 {
		t.Fatalf("first claim = %+v, want job %d with attempts 1", claimed, id)
	}
	if want := now.Add(lease).Truncate(time.Second); !claimed[0].LeaseExpiresAt.Equal(want) {
		t.Fatalf("lease ends %v, want the claim's now + its lease %v", claimed[0].LeaseExpiresAt, want)
	}
	for _, at := range []time.Duration{lease - 5*time.Second, lease} {
		if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, RetryAfter: lease, Now: now.Add(at)}); len(got) != 0 {
			t.Fatalf("claim %v after the reservation, lease %v = %v, want nothing", at, lease, ids(got))
		}
	}
	// The first worker never renewed its claim (no heartbeat, no start
	// mark): its claim may have lost its reply, so the takeover gives the
	// attempt back.
	at := now.Add(lease + time.Second)
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "rescuer", RetryAfter: lease, Now: at})
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("claim after the lease = %v, want job %d again", ids(got), id)
	}
	if got[0].Attempts != 1 || got[0].ReservedBy != "rescuer" {
		t.Fatalf("job taken over from a claim never renewed: attempts %d reserved_by %q, want 1 (given back) and rescuer", got[0].Attempts, got[0].ReservedBy)
	}
	if !got[0].ReservedAt.Equal(at.Truncate(time.Second)) || !got[0].LeaseExpiresAt.Equal(at.Add(lease).Truncate(time.Second)) {
		t.Fatalf("reclaimed job reserved_at %v, lease end %v; want the injected now and now + lease", got[0].ReservedAt, got[0].LeaseExpiresAt)
	}

	// A second takeover of a claim never renewed is charged: the attempt
	// is given back once, so a job that kills its worker at once still
	// runs out of tries. An abandoned job is rescued before a backlog of
	// pending jobs.
	backlog := h.insertN(t, "default", 5)
	later := at.Add(2 * lease)
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "rescuer-2", RetryAfter: lease, Now: later})
	if len(got) != 1 || got[0].ID != id || got[0].Attempts != 2 {
		t.Fatalf("claim with a backlog = %+v, want the abandoned job %d (attempts 2) first", got, id)
	}
	// A claim that was renewed (its worker marked it started) and then
	// expired is charged.
	hb := &driver.JobHeartbeatParams{WorkerID: "rescuer-2", Jobs: []driver.JobLease{driver.LeaseOf(got[0])}, Lease: lease, Now: later}
	if lost, err := h.d.JobHeartbeatMany(h.ctx, hb); err != nil || len(lost) > 0 {
		t.Fatalf("heartbeat = lost %v, %v", lost, err)
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "rescuer-3", RetryAfter: lease, Now: later.Add(lease + time.Second)})
	if len(got) != 1 || got[0].ID != id || got[0].Attempts != 3 {
		t.Fatalf("takeover of a renewed claim = %+v, want job %d with attempts 3", got, id)
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, RetryAfter: lease, Now: later})
	if !slices.Equal(ids(got), backlog) {
		t.Fatalf("then = %v, want the backlog %v", ids(got), backlog)
	}
}

// testLeaseStoredOnRow: a claim's lease is stored on the job, so a worker
// with a shorter lease of its own does not take over a job whose claim
// asked for a longer one, and one with a longer lease does not wait past
// a shorter one.
func testLeaseStoredOnRow(t *testing.T, h *harness) {
	now := h.now(t)
	// Available an hour ago, so that a second passing between the clock
	// read and the inserts cannot hide them from claims at now.
	var long, short int64
	for _, q := range []string{"long", "short"} {
		p := job(q, "noop")
		p.AvailableAt = now.Add(-time.Hour)
		id := h.insert(t, p)[0].ID
		if q == "long" {
			long = id
		} else {
			short = id
		}
	}
	h.claim(t, driver.JobClaimParams{Queues: []string{"long"}, Max: 1, WorkerID: "patient", RetryAfter: 10 * time.Minute, Now: now})
	h.claim(t, driver.JobClaimParams{Queues: []string{"short"}, Max: 1, WorkerID: "hasty", RetryAfter: 30 * time.Second, Now: now})
	both := []string{"long", "short"}
	got := h.claim(t, driver.JobClaimParams{Queues: both, Max: 10, WorkerID: "other", RetryAfter: 20 * time.Second, Now: now.Add(2 * time.Minute)})
	if !slices.Equal(ids(got), []int64{short}) {
		t.Fatalf("claim 2 minutes on with a lease of 20s = %v, want only %d (its claim's lease was 30s, the other's 10m)", ids(got), short)
	}
	h.complete(t, got)
	got = h.claim(t, driver.JobClaimParams{Queues: both, Max: 10, WorkerID: "other", RetryAfter: time.Hour, Now: now.Add(11 * time.Minute)})
	if !slices.Equal(ids(got), []int64{long}) {
		t.Fatalf("claim 11 minutes on with a lease of 1h = %v, want %d (its claim's lease of 10m is over)", ids(got), long)
	}
}

// testSameWorkerRetakesItsJob: a worker that takes its own job back after
// the lease of a claim it never renewed (the attempt is given back, so
// reserved_by and attempts are what they were) holds a new claim: the old
// claim's outcomes and heartbeats change nothing, the new claim's do.
func testSameWorkerRetakesItsJob(t *testing.T, h *harness) {
	now := h.now(t)
	p := job("default", "noop")
	p.AvailableAt = now.Add(-time.Hour)
	id := h.insert(t, p)[0].ID
	old := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "w", RetryAfter: time.Minute, Now: now.Add(-3 * time.Minute)})
	again := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "w", RetryAfter: time.Hour})
	if len(old) != 1 || len(again) != 1 || again[0].ID != id {
		t.Fatalf("claims = %v then %v, want job %d twice", ids(old), ids(again), id)
	}
	if again[0].Attempts != old[0].Attempts || again[0].ReservedBy != old[0].ReservedBy {
		t.Fatalf("retaken job: attempts %d by %q, want %d by %q (the attempt given back)", again[0].Attempts, again[0].ReservedBy, old[0].Attempts, old[0].ReservedBy)
	}
	if again[0].ClaimSeq == old[0].ClaimSeq {
		t.Fatalf("both claims have claim_seq %d, want a new one", again[0].ClaimSeq)
	}
	if lost, err := h.d.JobHeartbeatMany(h.ctx, &driver.JobHeartbeatParams{WorkerID: "w", Jobs: []driver.JobLease{driver.LeaseOf(old[0])}, Lease: time.Hour}); err != nil || !slices.Equal(lost, []int64{id}) {
		t.Fatalf("heartbeat of the old claim = lost %v, %v; want it lost", lost, err)
	}
	if stale, err := h.d.JobCompleteMany(h.ctx, driver.CompleteParamsOf(old)); err != nil || !slices.Equal(stale, []int64{id}) {
		t.Fatalf("complete by the old claim = stale %v, %v; want it stale", stale, err)
	}
	if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{retryOf(old[0])}); err != nil || !slices.Equal(stale, []int64{id}) {
		t.Fatalf("retry by the old claim = stale %v, %v; want it stale", stale, err)
	}
	if stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{failOf(old[0], "late")}); err != nil || !slices.Equal(stale, []int64{id}) {
		t.Fatalf("fail by the old claim = stale %v, %v; want it stale", stale, err)
	}
	h.complete(t, again)
}

// testJobGet: a job can be read by id while it is in the queue, waiting or
// running, and is not found once it has completed.
func testJobGet(t *testing.T, h *harness) {
	jg, ok := h.d.(driver.JobGetter)
	if !ok {
		t.Fatalf("the driver does not implement driver.JobGetter")
	}
	id := h.insertN(t, "default", 1)[0]
	j, err := jg.JobGet(h.ctx, id)
	if err != nil || j.ID != id || !j.ReservedAt.IsZero() || j.Attempts != 0 {
		t.Fatalf("JobGet of a waiting job = %+v, %v", j, err)
	}
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "getter"})
	j, err = jg.JobGet(h.ctx, id)
	if err != nil || j.ReservedBy != "getter" || j.Attempts != 1 || j.ReservedAt.IsZero() || j.LeaseExpiresAt.IsZero() {
		t.Fatalf("JobGet of a running job = %+v, %v", j, err)
	}
	h.complete(t, got)
	if _, err := jg.JobGet(h.ctx, id); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("JobGet of a completed job = %v, want ErrNotFound", err)
	}
}

// testStaleOutcomes: once another worker has taken a job over, the
// outcomes and heartbeats of the worker that lost it change nothing and
// are reported, and the new holder's work is unaffected.
func testStaleOutcomes(t *testing.T, h *harness) {
	now := h.now(t)
	lease := time.Minute
	var inserted []int64
	for range 4 {
		p := job("default", "slow")
		p.AvailableAt = now.Add(-time.Hour)
		inserted = append(inserted, h.insert(t, p)[0].ID)
	}
	old := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 4, WorkerID: "stalled", RetryAfter: lease, Now: now.Add(-2 * lease)})
	if len(old) != 4 {
		t.Fatalf("claim = %v, want 4 jobs", ids(old))
	}
	taken := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 4, WorkerID: "rescuer", RetryAfter: lease})
	if !slices.Equal(ids(taken), inserted) {
		t.Fatalf("takeover = %v, want %v", ids(taken), inserted)
	}

	stale, err := h.d.JobCompleteMany(h.ctx, driver.CompleteParamsOf(old[:1]))
	if err != nil || !slices.Equal(stale, ids(old[:1])) {
		t.Fatalf("stale complete = stale %v, %v; want %v reported", stale, err, ids(old[:1]))
	}
	rp := retryOf(old[1])
	rp.Error = "late retry"
	release := retryOf(old[2])
	release.Snooze, release.Error = true, "late release"
	stale, err = h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{rp, release})
	if err != nil || !slices.Equal(stale, ids(old[1:3])) {
		t.Fatalf("stale retry and release = stale %v, %v; want %v reported", stale, err, ids(old[1:3]))
	}
	stale, err = h.d.JobFailMany(h.ctx, []*driver.JobFailParams{failOf(old[3], "late failure")})
	if err != nil || !slices.Equal(stale, ids(old[3:])) {
		t.Fatalf("stale fail = stale %v, %v; want %v reported", stale, err, ids(old[3:]))
	}
	// A renewal of a lost lease reports it and renews nothing.
	lost, err := h.d.JobHeartbeatMany(h.ctx, &driver.JobHeartbeatParams{WorkerID: "stalled", Jobs: driver.CompleteParamsOf(old).Jobs, Lease: time.Hour})
	if err != nil || !slices.Equal(lost, inserted) {
		t.Fatalf("heartbeat of lost leases = lost %v, %v; want all of %v", lost, err, inserted)
	}
	// A lease naming another claim of the job is not the holder's either.
	wrong := driver.CompleteParamsOf(taken[:1])
	wrong.Jobs[0].Claim++
	if stale, err := h.d.JobCompleteMany(h.ctx, wrong); err != nil || len(stale) != 1 {
		t.Fatalf("complete with the wrong attempt = stale %v, %v; want it stale", stale, err)
	}
	if h.db != nil {
		for _, j := range taken {
			r, ok := h.row(t, j.ID)
			if !ok || r.reservedBy.String != "rescuer" || r.attempts != j.Attempts || r.lastError.Valid {
				t.Fatalf("job %d after the stale writes = %+v (exists %v), want it reserved by rescuer as claimed", j.ID, r, ok)
			}
		}
		if n := h.count(t, h.db.DB, "SELECT COUNT(*) FROM failed_jobs"); n != 0 {
			t.Fatalf("%d failed_jobs rows after a stale failure, want 0", n)
		}
	}
	// The leases the stale heartbeat named were not moved: they end when
	// the rescuer's claim said.
	if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, WorkerID: "third", RetryAfter: lease, Now: now.Add(lease + 2*time.Second)}); len(got) != 4 {
		t.Fatalf("claim after the rescuer's lease = %v, want all 4 (the stale heartbeat extended nothing)", ids(got))
	}
}

func testHeartbeat(t *testing.T, h *harness) {
	now := h.now(t)
	lease := 60 * time.Second
	var params []*driver.JobInsertParams
	for range 3 {
		p := job("default", "long")
		p.AvailableAt = now.Add(-time.Hour)
		params = append(params, p)
	}
	var inserted []int64
	for _, r := range h.insert(t, params...) {
		inserted = append(inserted, r.ID)
	}
	// Reserve all three as if 100 s ago: their leases have expired by the
	// database clock unless a heartbeat renews them.
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 3, WorkerID: "live", RetryAfter: lease, Now: now.Add(-100 * time.Second)})
	if len(got) != 3 {
		t.Fatalf("claim = %v, want 3 jobs", ids(got))
	}
	if lost, err := h.d.JobHeartbeatMany(h.ctx, &driver.JobHeartbeatParams{WorkerID: "live", Jobs: driver.CompleteParamsOf(got[:1]).Jobs, Lease: lease}); err != nil || len(lost) > 0 {
		t.Fatalf("heartbeat = lost %v, %v; want the lease renewed", lost, err)
	}
	// A heartbeat from another worker must not extend the lease, and says
	// so.
	lost, err := h.d.JobHeartbeatMany(h.ctx, &driver.JobHeartbeatParams{WorkerID: "someone-else", Jobs: driver.CompleteParamsOf(got[1:2]).Jobs, Lease: lease})
	if err != nil || !slices.Equal(lost, inserted[1:2]) {
		t.Fatalf("heartbeat of another worker = lost %v, %v; want %v lost", lost, err, inserted[1:2])
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, WorkerID: "rescuer", RetryAfter: lease})
	if want := inserted[1:]; !slices.Equal(ids(got), want) {
		t.Fatalf("claim after heartbeat = %v, want %v (the job that heartbeated kept)", ids(got), want)
	}
}

func testRetry(t *testing.T, h *harness) {
	now := h.now(t)
	id := h.insertN(t, "default", 1)[0]
	claimed := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1})
	rp := retryOf(claimed[0])
	rp.Delay, rp.Error = 10*time.Minute, "smtp: 421 try later"
	if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{rp}); err != nil || len(stale) > 0 {
		t.Fatalf("retry: stale %v, %v", stale, err)
	}
	if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1}); len(got) != 0 {
		t.Fatalf("claim before the retry delay = %v, want nothing", ids(got))
	}
	if h.db != nil {
		r, ok := h.row(t, id)
		if !ok {
			t.Fatal("retried job is gone")
		}
		if r.reservedAt.Valid || r.reservedBy.Valid || r.attempts != 1 || r.lastError.String != "smtp: 421 try later" {
			t.Fatalf("retried row = %+v, want unreserved, attempts 1 and the error", r)
		}
		if d := time.Unix(r.availableAt, 0).Sub(now); d < 10*time.Minute-2*time.Second || d > 10*time.Minute+3*time.Second {
			t.Fatalf("retried job available at now+%v, want now+10m", d)
		}
	}
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, Now: now.Add(11 * time.Minute)})
	if len(got) != 1 || got[0].ID != id || got[0].Attempts != 2 || got[0].LastError != "smtp: 421 try later" {
		t.Fatalf("claim after the delay = %+v, want job %d with attempts 2 and its last error", got, id)
	}
	// Now injects the clock the delay counts from.
	rp = retryOf(got[0])
	rp.Delay, rp.Error, rp.Now = time.Minute, "again", now.Add(time.Hour)
	if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{rp}); err != nil || len(stale) > 0 {
		t.Fatalf("retry: stale %v, %v", stale, err)
	}
	if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, Now: now.Add(time.Hour + 30*time.Second)}); len(got) != 0 {
		t.Fatalf("claim 30s into a 1m retry = %v, want nothing", ids(got))
	}
	if got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1, Now: now.Add(time.Hour + 61*time.Second)}); len(got) != 1 || got[0].Attempts != 3 {
		t.Fatalf("claim after the second retry = %+v, want the job with attempts 3", got)
	}
}

func testSnooze(t *testing.T, h *harness) {
	id := h.insertN(t, "default", 1)[0]
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1})
	if len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("claim = %+v, want attempts 1", got)
	}
	rp := retryOf(got[0])
	rp.Snooze = true
	if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{rp}); err != nil || len(stale) > 0 {
		t.Fatalf("snooze: stale %v, %v", stale, err)
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1})
	if len(got) != 1 || got[0].ID != id || got[0].Attempts != 1 {
		t.Fatalf("claim after snooze = %+v, want the job with attempts 1 (the snooze gave it back)", got)
	}
	// A plain retry keeps the attempt.
	if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{retryOf(got[0])}); err != nil || len(stale) > 0 {
		t.Fatalf("retry: stale %v, %v", stale, err)
	}
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 1})
	if len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("claim after retry = %+v, want attempts 2", got)
	}
}

func testFail(t *testing.T, h *harness) {
	h.needDB(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a, b := job("emails", "SendInvoiceEmail"), job("emails", "SendInvoiceEmail")
	h.insert(t, a, b, job("emails", "keep"))
	claimed := h.claim(t, driver.JobClaimParams{Queues: []string{"emails"}, Max: 3})
	before := h.now(t)
	f0 := failOf(claimed[0], "mail: send: smtp: 550 no such user\nstack…")
	f0.Now = at
	stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{f0, failOf(claimed[1], "boom")})
	if err != nil || len(stale) > 0 {
		t.Fatalf("fail: stale %v, %v", stale, err)
	}
	if n := h.count(t, h.db.DB, "SELECT COUNT(*) FROM jobs"); n != 1 {
		t.Fatalf("%d jobs left, want 1 (the failed ones moved out)", n)
	}
	rows, err := h.db.QueryContext(h.ctx, "SELECT uuid, connection, queue, payload, exception, failed_at FROM failed_jobs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []struct {
		uuid, conn, queue, payload, exception string
		failedAt                              time.Time
	}
	for rows.Next() {
		var r struct {
			uuid, conn, queue, payload, exception string
			failedAt                              time.Time
		}
		if err := rows.Scan(&r.uuid, &r.conn, &r.queue, &r.payload, &r.exception, &r.failedAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d failed_jobs rows, want 2", len(got))
	}
	for i, p := range []*driver.JobInsertParams{a, b} {
		if got[i].uuid != p.UUID || got[i].conn != "database" || got[i].queue != "emails" || got[i].payload != string(p.Payload) {
			t.Errorf("failed job %d = %+v, want the job's uuid, connection, queue and payload", i, got[i])
		}
	}
	if got[0].exception != "mail: send: smtp: 550 no such user\nstack…" || got[1].exception != "boom" {
		t.Errorf("exceptions = %q, %q", got[0].exception, got[1].exception)
	}
	if !got[0].failedAt.Equal(at) {
		t.Errorf("failed_at = %v, want the injected %v", got[0].failedAt, at)
	}
	if d := got[1].failedAt.Sub(before); d < -2*time.Second || d > 5*time.Second {
		t.Errorf("failed_at = %v, want about the database clock %v", got[1].failedAt, before)
	}
	// Failing a job whose uuid already failed once (retried from
	// failed_jobs, then failed again) replaces the old row.
	again := job("emails", "SendInvoiceEmail")
	again.UUID, again.Payload = a.UUID, a.Payload
	r := h.insert(t, again)
	for _, j := range h.claim(t, driver.JobClaimParams{Queues: []string{"emails"}, Max: 10}) {
		if j.ID != r[0].ID {
			continue
		}
		if stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{failOf(j, "second")}); err != nil || len(stale) > 0 {
			t.Fatalf("fail again: stale %v, %v", stale, err)
		}
	}
	if n := h.count(t, h.db.DB, "SELECT COUNT(*) FROM failed_jobs WHERE uuid = ? AND exception = 'second'", a.UUID); n != 1 {
		t.Fatalf("%d rows for the job that failed twice with its last exception, want 1", n)
	}
}

func testUniqueKey(t *testing.T, h *harness) {
	keyed := func(key string) *driver.JobInsertParams {
		p := job("default", "SendETicketEmail")
		p.UniqueKey = key
		return p
	}
	first := h.insert(t, keyed("ticket:1"), keyed("ticket:2"), job("default", "free"))
	for _, r := range first {
		if r.Skipped {
			t.Fatalf("first inserts = %+v, want all inserted", first)
		}
	}
	res := h.insert(t, keyed("ticket:1"), keyed("ticket:3"), keyed("ticket:3"))
	if !res[0].Skipped || res[1].Skipped || !res[2].Skipped {
		t.Fatalf("pending duplicate: %+v, want skipped, inserted, skipped (same key twice in one batch)", res)
	}
	if res[0].ID != 0 && res[0].ID != first[0].ID {
		t.Fatalf("skipped insert reports job %d, want %d (the holder) or 0", res[0].ID, first[0].ID)
	}
	if res[2].ID != 0 && res[2].ID != res[1].ID {
		t.Fatalf("skipped insert reports job %d, want %d (the holder) or 0", res[2].ID, res[1].ID)
	}
	// Running: still skipped.
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 2})
	if !slices.Equal(ids(got), []int64{first[0].ID, first[1].ID}) {
		t.Fatalf("claim = %v", ids(got))
	}
	if r := h.insert(t, keyed("ticket:1"))[0]; !r.Skipped {
		t.Fatalf("insert while the keyed job runs = %+v, want skipped", r)
	}
	// Completed or failed: allowed again.
	h.complete(t, got[:1])
	if stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{failOf(got[1], "x")}); err != nil || len(stale) > 0 {
		t.Fatalf("fail: stale %v, %v", stale, err)
	}
	res = h.insert(t, keyed("ticket:1"), keyed("ticket:2"))
	if res[0].Skipped || res[1].Skipped {
		t.Fatalf("insert after complete and fail = %+v, want both inserted", res)
	}
}

func testInsertTx(t *testing.T, h *harness) {
	h.needDB(t)
	pending := func() int { return h.count(t, h.db.Read, "SELECT COUNT(*) FROM jobs") }
	for _, commit := range []bool{false, true} {
		tx, err := h.db.BeginTx(h.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.d.JobInsertManyTx(h.ctx, tx, []*driver.JobInsertParams{job("default", "tx"), job("default", "tx")})
		if err != nil {
			tx.Rollback()
			t.Fatalf("insert tx: %v", err)
		}
		if len(res) != 2 || res[0].Skipped || res[1].Skipped || res[0].ID == 0 {
			tx.Rollback()
			t.Fatalf("insert tx = %+v", res)
		}
		var inTx int
		if err := tx.QueryRowContext(h.ctx, "SELECT COUNT(*) FROM jobs").Scan(&inTx); err != nil || inTx != 2 {
			tx.Rollback()
			t.Fatalf("jobs seen inside the transaction = %d (%v), want 2", inTx, err)
		}
		if n := pending(); n != 0 {
			tx.Rollback()
			t.Fatalf("%d jobs visible outside before commit, want 0", n)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10})
		if commit && !slices.Equal(ids(got), []int64{res[0].ID, res[1].ID}) {
			t.Fatalf("claim after commit = %v, want %v", ids(got), res)
		}
		if !commit && len(got) != 0 {
			t.Fatalf("claim after rollback = %v, want nothing", ids(got))
		}
	}
}

func testComplete(t *testing.T, h *harness) {
	inserted := h.insertN(t, "default", 5)
	got := h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 4})
	h.complete(t, got[:3])
	if stale, err := h.d.JobCompleteMany(h.ctx, &driver.JobCompleteParams{WorkerID: "worker-1"}); err != nil || len(stale) > 0 {
		t.Fatalf("complete nothing: stale %v, %v", stale, err)
	}
	again := &driver.JobCompleteParams{WorkerID: "worker-1", Jobs: []driver.JobLease{driver.LeaseOf(got[0]), {ID: 1 << 40, Claim: 1}}}
	if stale, err := h.d.JobCompleteMany(h.ctx, again); err != nil || !slices.Equal(stale, []int64{got[0].ID, 1 << 40}) {
		t.Fatalf("complete an already completed and an unknown job = stale %v, %v; want both stale", stale, err)
	}
	if h.db != nil {
		for i, id := range inserted {
			_, ok := h.row(t, id)
			if want := i >= 3; ok != want {
				t.Fatalf("job %d exists = %v, want %v", id, ok, want)
			}
		}
	}
	// The completed jobs are gone for good, even after every lease ends.
	now := h.now(t)
	got = h.claim(t, driver.JobClaimParams{Queues: []string{"default"}, Max: 10, Now: now.Add(24 * time.Hour)})
	if want := inserted[3:]; !slices.Equal(ids(got), want) {
		t.Fatalf("claim a day later = %v, want only %v", ids(got), want)
	}
}

func testCache(t *testing.T, h *harness) {
	if _, ok, err := h.d.CacheGet(h.ctx, "tripin:queue:restart"); err != nil || ok {
		t.Fatalf("get missing = %v, %v; want not ok", ok, err)
	}
	if err := h.d.CachePut(h.ctx, "tripin:queue:restart", "1700000000", 0); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := h.d.CachePut(h.ctx, "tripin:queue:restart", "1800000000", 0); err != nil {
		t.Fatalf("put again: %v", err)
	}
	if v, ok, err := h.d.CacheGet(h.ctx, "tripin:queue:restart"); err != nil || !ok || v != "1800000000" {
		t.Fatalf("get = %q, %v, %v; want the last value", v, ok, err)
	}
	if err := h.d.CachePut(h.ctx, "short", "v", 2*time.Second); err != nil {
		t.Fatalf("put with ttl: %v", err)
	}
	if v, ok, err := h.d.CacheGet(h.ctx, "short"); err != nil || !ok || v != "v" {
		t.Fatalf("get before expiry = %q, %v, %v", v, ok, err)
	}
	if h.db != nil {
		now := h.now(t)
		if n := h.count(t, h.db.DB, "SELECT COUNT(*) FROM cache WHERE expiration BETWEEN ? AND ?", now.Unix()+1, now.Unix()+4); n != 1 {
			t.Fatalf("expiration of the ttl entry is not about now+2s")
		}
		// Age the entry past its expiry instead of sleeping.
		if _, err := h.db.ExecContext(h.ctx, h.db.Rebind("UPDATE cache SET expiration = ? WHERE expiration <> 0"), now.Unix()-1); err != nil {
			t.Fatal(err)
		}
	} else {
		time.Sleep(3 * time.Second)
	}
	if _, ok, err := h.d.CacheGet(h.ctx, "short"); err != nil || ok {
		t.Fatalf("get after expiry = %v, %v; want not ok", ok, err)
	}
	if _, ok, err := h.d.CacheGet(h.ctx, "tripin:queue:restart"); err != nil || !ok {
		t.Fatalf("the forever entry expired: %v, %v", ok, err)
	}
}

func testClock(t *testing.T, h *harness) {
	now := h.now(t)
	if d := time.Since(now); d < -5*time.Second || d > 5*time.Second {
		t.Fatalf("database clock %v is %v off the local clock", now, d)
	}
	if now.Location() != time.UTC {
		t.Fatalf("Now is in %v, want UTC", now.Location())
	}
	later := h.now(t)
	if later.Before(now) {
		t.Fatalf("clock went back: %v then %v", now, later)
	}
}

// testConcurrentWorkers runs claims, completions, retries and failures from
// many goroutines at once: lock conflicts between them (deadlocks on
// MariaDB, busy on SQLite) must be retried inside the driver, so no call
// fails, and every job ends completed or failed exactly once.
func testConcurrentWorkers(t *testing.T, h *harness) {
	const total, workers = 1000, 8
	inserted := h.insertN(t, "default", total)
	var (
		mu                sync.Mutex
		errs              []error
		completed, failed = map[int64]bool{}, map[int64]bool{}
		wg                sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("worker-%d", w)
			for empty := 0; empty < 5; {
				jobs, err := h.d.JobClaim(h.ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 10, WorkerID: worker, RetryAfter: time.Hour})
				if err != nil {
					fail(err)
					return
				}
				if len(jobs) == 0 {
					empty++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				empty = 0
				var done []*driver.JobRow
				var retries []*driver.JobRetryParams
				var failures []*driver.JobFailParams
				for _, j := range jobs {
					switch {
					case j.ID%5 == 0 && j.Attempts < 2:
						rp := retryOf(j)
						rp.Error = "transient"
						retries = append(retries, rp)
					case j.ID%7 == 0:
						failures = append(failures, failOf(j, "permanent"))
					default:
						done = append(done, j)
					}
				}
				hp := driver.CompleteParamsOf(jobs)
				if lost, err := h.d.JobHeartbeatMany(h.ctx, &driver.JobHeartbeatParams{WorkerID: worker, Jobs: hp.Jobs, Lease: time.Hour}); err != nil || len(lost) > 0 {
					fail(fmt.Errorf("heartbeat: lost %v, %v", lost, err))
					return
				}
				if stale, err := h.d.JobRetryMany(h.ctx, retries); err != nil || len(stale) > 0 {
					fail(fmt.Errorf("retry: stale %v, %v", stale, err))
					return
				}
				if stale, err := h.d.JobFailMany(h.ctx, failures); err != nil || len(stale) > 0 {
					fail(fmt.Errorf("fail: stale %v, %v", stale, err))
					return
				}
				if stale, err := Complete(h.ctx, h.d, done); err != nil || len(stale) > 0 {
					fail(fmt.Errorf("complete: stale %v, %v", stale, err))
					return
				}
				mu.Lock()
				for _, id := range ids(done) {
					if completed[id] || failed[id] {
						errs = append(errs, fmt.Errorf("job %d finished twice", id))
					}
					completed[id] = true
				}
				for _, f := range failures {
					if completed[f.ID] || failed[f.ID] {
						errs = append(errs, fmt.Errorf("job %d finished twice", f.ID))
					}
					failed[f.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	for _, id := range inserted {
		if !completed[id] && !failed[id] {
			t.Fatalf("job %d never finished", id)
		}
	}
	if h.db != nil {
		if n := h.count(t, h.db.DB, "SELECT COUNT(*) FROM jobs"); n != 0 {
			t.Fatalf("%d jobs left", n)
		}
		if n := h.count(t, h.db.DB, "SELECT COUNT(*) FROM failed_jobs"); n != len(failed) {
			t.Fatalf("%d failed_jobs rows, want %d", n, len(failed))
		}
	}
}
