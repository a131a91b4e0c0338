package drivertest

import (
	"slices"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// The cases below cover the optional capabilities driver.Registry and
// driver.JobBrowser; a driver without them skips them.

func (h *harness) registry(t *testing.T) driver.Registry {
	t.Helper()
	reg, ok := h.d.(driver.Registry)
	if !ok {
		t.Skip("drivertest: the driver has no process registry")
	}
	return reg
}

func (h *harness) browser(t *testing.T) driver.JobBrowser {
	t.Helper()
	jb, ok := h.d.(driver.JobBrowser)
	if !ok {
		t.Skip("drivertest: the driver has no job browser")
	}
	return jb
}

func (h *harness) heartbeat(t *testing.T, reg driver.Registry, p *driver.Process) {
	t.Helper()
	if err := reg.ProcessHeartbeat(h.ctx, p); err != nil {
		t.Fatalf("heartbeat %s: %v", p.ID, err)
	}
}

func (h *harness) processes(t *testing.T, reg driver.Registry, p driver.ProcessListParams) []*driver.Process {
	t.Helper()
	list, err := reg.ProcessList(h.ctx, &p)
	if err != nil {
		t.Fatalf("list processes %+v: %v", p, err)
	}
	return list
}

func processIDs(list []*driver.Process) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.ID
	}
	return out
}

// ageProcess moves a process's times back by d, as if its heartbeats had
// stopped d ago; the suite never sleeps for that.
func (h *harness) ageProcess(t *testing.T, id string, d time.Duration) {
	t.Helper()
	h.needDB(t)
	sec := int64(d / time.Second)
	res, err := h.db.ExecContext(h.ctx, h.db.Rebind(
		"UPDATE queue_processes SET started_at = started_at - ?, last_heartbeat = last_heartbeat - ? WHERE id = ?"), sec, sec, id)
	if err != nil {
		t.Fatalf("age process %s: %v", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("age process %s: %d rows, %v; want 1", id, n, err)
	}
}

func near(a, b time.Time, within time.Duration) bool {
	d := a.Sub(b)
	return d >= -within && d <= within
}

// testProcessHeartbeat: the first heartbeat inserts the row, the next ones
// update what changes and keep started_at.
func testProcessHeartbeat(t *testing.T, h *harness) {
	reg := h.registry(t)
	now := h.now(t)
	p := &driver.Process{ID: "web-1:4242:a1b2c3d4", Kind: driver.ProcessWorker, Host: "web-1", PID: 4242,
		Queues: []string{"emails", "default"}, Concurrency: 8}
	h.heartbeat(t, reg, p)
	list := h.processes(t, reg, driver.ProcessListParams{})
	if len(list) != 1 {
		t.Fatalf("list = %v, want the one process", processIDs(list))
	}
	got := list[0]
	if got.ID != p.ID || got.Kind != p.Kind || got.Host != p.Host || got.PID != p.PID || got.Concurrency != 8 ||
		got.Running != 0 || !slices.Equal(got.Queues, p.Queues) || len(got.Jobs) != 0 {
		t.Fatalf("process = %+v, want the values of %+v", got, p)
	}
	if !near(got.StartedAt, now, 5*time.Second) || !near(got.LastHeartbeat, now, 5*time.Second) {
		t.Fatalf("started_at %v, last_heartbeat %v; want about %v (the database clock)", got.StartedAt, got.LastHeartbeat, now)
	}
	if got.Age < 0 || got.Age > 5*time.Second {
		t.Fatalf("age = %v just after a heartbeat", got.Age)
	}
	if got.StartedAt.Location() != time.UTC || got.LastHeartbeat.Location() != time.UTC {
		t.Fatalf("times in %v and %v, want UTC", got.StartedAt.Location(), got.LastHeartbeat.Location())
	}
	started := got.StartedAt
	if h.db != nil {
		h.ageProcess(t, p.ID, 2*time.Minute)
		started = started.Add(-2 * time.Minute)
		if got := h.processes(t, reg, driver.ProcessListParams{})[0]; got.Age < 119*time.Second || got.Age > 125*time.Second {
			t.Fatalf("age = %v after two minutes without a heartbeat", got.Age)
		}
	}

	// The second heartbeat reports two running jobs.
	p.Running, p.Jobs = 2, []string{"SendInvoiceEmail#7", "ExpireBooking#9"}
	h.heartbeat(t, reg, p)
	list = h.processes(t, reg, driver.ProcessListParams{})
	if len(list) != 1 {
		t.Fatalf("list after the second heartbeat = %v, want one row", processIDs(list))
	}
	got = list[0]
	if got.Running != 2 || !slices.Equal(got.Jobs, p.Jobs) || !slices.Equal(got.Queues, p.Queues) {
		t.Fatalf("process = %+v, want running 2 and jobs %v", got, p.Jobs)
	}
	if !got.StartedAt.Equal(started) {
		t.Fatalf("started_at = %v after a heartbeat, want it kept at %v", got.StartedAt, started)
	}
	if !near(got.LastHeartbeat, h.now(t), 5*time.Second) || got.Age > 5*time.Second {
		t.Fatalf("last_heartbeat %v (age %v), want renewed to the database clock", got.LastHeartbeat, got.Age)
	}

	// A third heartbeat with nothing running clears the jobs.
	p.Running, p.Jobs = 0, nil
	h.heartbeat(t, reg, p)
	if got := h.processes(t, reg, driver.ProcessListParams{})[0]; got.Running != 0 || len(got.Jobs) != 0 {
		t.Fatalf("process = %+v, want no running jobs", got)
	}
	if err := reg.ProcessHeartbeat(h.ctx, &driver.Process{Kind: driver.ProcessWorker}); err == nil {
		t.Fatal("heartbeat without an id succeeded")
	}
}

// testProcessList: filtering by kind and by heartbeat age, and removal.
func testProcessList(t *testing.T, h *harness) {
	reg := h.registry(t)
	h.needDB(t)
	w1 := &driver.Process{ID: "w1", Kind: driver.ProcessWorker, Host: "a", PID: 1, Queues: []string{"default"}, Concurrency: 2}
	w2 := &driver.Process{ID: "w2", Kind: driver.ProcessWorker, Host: "b", PID: 2, Queues: []string{"emails"}, Concurrency: 4}
	s1 := &driver.Process{ID: "s1", Kind: driver.ProcessScheduler, Host: "a", PID: 3}
	for _, p := range []*driver.Process{w1, w2, s1} {
		h.heartbeat(t, reg, p)
	}
	h.ageProcess(t, "w2", 5*time.Minute)
	h.ageProcess(t, "s1", 30*time.Second)

	for _, tc := range []struct {
		params driver.ProcessListParams
		want   []string
	}{
		// Most recent heartbeat first.
		{driver.ProcessListParams{}, []string{"w1", "s1", "w2"}},
		{driver.ProcessListParams{Kind: driver.ProcessWorker}, []string{"w1", "w2"}},
		{driver.ProcessListParams{Kind: driver.ProcessScheduler}, []string{"s1"}},
		{driver.ProcessListParams{StaleAfter: time.Minute}, []string{"w1", "s1"}},
		{driver.ProcessListParams{StaleAfter: 10 * time.Second}, []string{"w1"}},
		{driver.ProcessListParams{Kind: driver.ProcessWorker, StaleAfter: time.Minute}, []string{"w1"}},
		{driver.ProcessListParams{Kind: driver.ProcessWorker, StaleAfter: time.Hour}, []string{"w1", "w2"}},
		{driver.ProcessListParams{Kind: "nobody"}, []string{}},
	} {
		if got := processIDs(h.processes(t, reg, tc.params)); !slices.Equal(got, tc.want) {
			t.Errorf("list %+v = %v, want %v", tc.params, got, tc.want)
		}
	}

	if err := reg.ProcessRemove(h.ctx, "w1"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if got := processIDs(h.processes(t, reg, driver.ProcessListParams{})); !slices.Equal(got, []string{"s1", "w2"}) {
		t.Fatalf("list after removing w1 = %v, want [s1 w2]", got)
	}
	for _, id := range []string{"w1", "never-registered"} {
		if err := reg.ProcessRemove(h.ctx, id); err != nil {
			t.Fatalf("remove %s, which has no row: %v", id, err)
		}
	}
	// A process whose row was removed (or pruned) comes back with its
	// next heartbeat.
	h.heartbeat(t, reg, w1)
	if got := processIDs(h.processes(t, reg, driver.ProcessListParams{Kind: driver.ProcessWorker})); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Fatalf("list after w1's next heartbeat = %v, want [w1 w2]", got)
	}
}

// testProcessPrune: only the rows whose heartbeat is older than the cutoff
// go.
func testProcessPrune(t *testing.T, h *harness) {
	reg := h.registry(t)
	h.needDB(t)
	for _, id := range []string{"live", "quiet", "dead"} {
		h.heartbeat(t, reg, &driver.Process{ID: id, Kind: driver.ProcessWorker, Host: "h", PID: 1, Queues: []string{"default"}})
	}
	h.ageProcess(t, "quiet", 30*time.Minute)
	h.ageProcess(t, "dead", 2*time.Hour)
	prune := func(olderThan time.Duration, want int) {
		t.Helper()
		n, err := reg.ProcessPrune(h.ctx, olderThan)
		if err != nil || n != want {
			t.Fatalf("prune older than %v = %d, %v; want %d", olderThan, n, err, want)
		}
	}
	prune(time.Hour, 1)
	if got := processIDs(h.processes(t, reg, driver.ProcessListParams{})); !slices.Equal(got, []string{"live", "quiet"}) {
		t.Fatalf("list after pruning an hour = %v, want [live quiet]", got)
	}
	prune(time.Hour, 0)
	prune(10*time.Minute, 1)
	if got := processIDs(h.processes(t, reg, driver.ProcessListParams{})); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("list after pruning ten minutes = %v, want [live]", got)
	}
}

// testJobList: each state, the queue filter, the order and the paging.
func testJobList(t *testing.T, h *harness) {
	jb := h.browser(t)
	now := h.now(t)
	at := func(queue string, d time.Duration) *driver.JobInsertParams {
		p := job(queue, "list")
		p.AvailableAt = now.Add(d)
		return p
	}
	res := h.insert(t,
		at("default", -10*time.Second), // 0 d1
		at("default", -time.Minute),    // 1 d2
		job("default", "list"),         // 2 d3, available now
		at("emails", -2*time.Minute),   // 3 e1, claimed below
		at("emails", -30*time.Second),  // 4 e2
		at("default", 2*time.Hour),     // 5 l1
		at("default", time.Hour),       // 6 l2
		at("emails", 30*time.Minute),   // 7 l3
	)
	id := func(i int) int64 { return res[i].ID }
	claimed := h.claim(t, driver.JobClaimParams{Queues: []string{"emails"}, Max: 1, WorkerID: "browser-test"})
	if !slices.Equal(ids(claimed), []int64{id(3)}) {
		t.Fatalf("claim = %v, want the oldest emails job %d", ids(claimed), id(3))
	}
	list := func(p driver.JobListParams) []*driver.JobRow {
		t.Helper()
		rows, err := jb.JobList(h.ctx, &p)
		if err != nil {
			t.Fatalf("list %+v: %v", p, err)
		}
		return rows
	}
	for _, tc := range []struct {
		params driver.JobListParams
		want   []int64
	}{
		{driver.JobListParams{State: driver.JobStatePending}, []int64{id(1), id(4), id(0), id(2)}},
		{driver.JobListParams{State: driver.JobStatePending, Queue: "default"}, []int64{id(1), id(0), id(2)}},
		{driver.JobListParams{State: driver.JobStatePending, Queue: "emails"}, []int64{id(4)}},
		{driver.JobListParams{State: driver.JobStatePending, Queue: "nothing"}, nil},
		{driver.JobListParams{State: driver.JobStateDelayed}, []int64{id(7), id(6), id(5)}},
		{driver.JobListParams{State: driver.JobStateDelayed, Queue: "default"}, []int64{id(6), id(5)}},
		{driver.JobListParams{State: driver.JobStateReserved}, []int64{id(3)}},
		{driver.JobListParams{State: driver.JobStateReserved, Queue: "default"}, nil},
		{driver.JobListParams{State: driver.JobStatePending, Limit: 2}, []int64{id(1), id(4)}},
		{driver.JobListParams{State: driver.JobStatePending, Limit: 2, Offset: 2}, []int64{id(0), id(2)}},
		{driver.JobListParams{State: driver.JobStateDelayed, Offset: 1}, []int64{id(6), id(5)}},
	} {
		if got := ids(list(tc.params)); !slices.Equal(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("list %+v = %v, want %v", tc.params, got, tc.want)
		}
	}
	// Keyset pages: after a job, the list goes on from the next one in
	// (available_at, id) order, on one queue or across all of them.
	pending := list(driver.JobListParams{State: driver.JobStatePending})
	for _, tc := range []struct {
		params driver.JobListParams
		want   []int64
	}{
		{driver.JobListParams{State: driver.JobStatePending, After: driver.CursorOf(pending[0])}, []int64{id(4), id(0), id(2)}},
		{driver.JobListParams{State: driver.JobStatePending, Limit: 1, After: driver.CursorOf(pending[1])}, []int64{id(0)}},
		{driver.JobListParams{State: driver.JobStatePending, Queue: "default", After: driver.CursorOf(pending[0])}, []int64{id(0), id(2)}},
		{driver.JobListParams{State: driver.JobStatePending, After: driver.CursorOf(pending[3])}, nil},
	} {
		if got := ids(list(tc.params)); !slices.Equal(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("list %+v after %+v = %v, want %v", tc.params, *tc.params.After, got, tc.want)
		}
	}
	reserved := list(driver.JobListParams{State: driver.JobStateReserved})[0]
	if reserved.ReservedBy != "browser-test" || reserved.Attempts != 1 || reserved.ReservedAt.IsZero() ||
		reserved.Queue != "emails" || reserved.Kind != "list" || len(reserved.Payload) == 0 {
		t.Errorf("reserved job = %+v, want the claimed row in full", reserved)
	}
	delayed := list(driver.JobListParams{State: driver.JobStateDelayed, Limit: 1})[0]
	if !delayed.ReservedAt.IsZero() || !near(delayed.AvailableAt, now.Add(30*time.Minute), 2*time.Second) {
		t.Errorf("delayed job = %+v, want available at about %v", delayed, now.Add(30*time.Minute))
	}
	if _, err := jb.JobList(h.ctx, &driver.JobListParams{State: "running"}); err == nil {
		t.Error("list with an unknown state succeeded")
	}

	// Without a limit a page holds 50 jobs.
	h.insertN(t, "bulk", 55)
	if got := list(driver.JobListParams{State: driver.JobStatePending, Queue: "bulk"}); len(got) != 50 {
		t.Fatalf("list without a limit = %d jobs, want 50", len(got))
	}
	// Walking keyset pages of 20 visits every bulk job once, in order,
	// though many share their available_at second.
	var walked []int64
	var after *driver.JobListCursor
	for range 10 {
		page := list(driver.JobListParams{State: driver.JobStatePending, Queue: "bulk", Limit: 20, After: after})
		if len(page) == 0 {
			break
		}
		walked = append(walked, ids(page)...)
		after = driver.CursorOf(page[len(page)-1])
	}
	if len(walked) != 55 || !slices.IsSorted(walked) || len(slices.Compact(slices.Clone(walked))) != 55 {
		t.Fatalf("keyset walk over 55 bulk jobs = %v", walked)
	}
}
