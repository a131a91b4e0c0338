package drivertest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
)

// The cases below cover JobBrowser's JobSearch and JobFind, the completed
// jobs kept as history and the monitored tags (driver.TagMonitor); a
// driver without them skips them.

func (h *harness) admin(t *testing.T) driver.Admin {
	t.Helper()
	adm, ok := h.d.(driver.Admin)
	if !ok {
		t.Skip("drivertest: the driver has no admin")
	}
	return adm
}

// tagged is a job whose payload carries tags, as the engine writes it.
func tagged(queue, kind string, tags ...string) *driver.JobInsertParams {
	u := uuid.NewString()
	payload, _ := json.Marshal(map[string]any{
		"uuid": u, "displayName": kind, "job": kind, "tags": tags, "data": map[string]int{"n": 1},
	})
	return &driver.JobInsertParams{UUID: u, Queue: queue, Kind: kind, Payload: payload, MaxAttempts: 1}
}

func (h *harness) search(t *testing.T, p driver.JobSearchParams) *driver.JobSearchPage {
	t.Helper()
	page, err := h.browser(t).JobSearch(h.ctx, &p)
	if err != nil {
		t.Fatalf("search %+v: %v", p, err)
	}
	return page
}

func uuids(entries []*driver.JobEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.UUID
	}
	slices.Sort(out)
	return out
}

// completeAndKeep claims the jobs of queue, completes them, and keeps them
// as history as the engine's recorder would.
func (h *harness) completeAndKeep(t *testing.T, queue string, at time.Time, keptFor time.Duration) []*driver.JobRow {
	t.Helper()
	rows := h.claim(t, driver.JobClaimParams{Queues: []string{queue}, Max: 100, WorkerID: "search-test"})
	h.complete(t, rows)
	kept := make([]*driver.CompletedJob, len(rows))
	for i, j := range rows {
		kept[i] = &driver.CompletedJob{
			UUID: j.UUID, Queue: j.Queue, Kind: j.Kind, Attempts: j.Attempts, RuntimeMS: 12, WaitMS: 3,
			CompletedAt: at, JobID: j.ID, Payload: j.Payload, QueuedAt: j.CreatedAt, AvailableAt: j.AvailableAt,
			StartedAt: j.ReservedAt, KeptFor: keptFor,
		}
	}
	if err := h.admin(t).CompletedRecord(h.ctx, kept); err != nil {
		t.Fatalf("record completed: %v", err)
	}
	return rows
}

func testJobSearchByTag(t *testing.T, h *harness) {
	h.browser(t)
	h.admin(t)
	now := h.now(t)
	pending := tagged("default", "SendInvoiceEmail", "booking:7", "booking:TRP-7", "user:3")
	delayed := tagged("default", "ExpireBooking", "booking:7")
	delayed.AvailableAt = now.Add(time.Hour)
	other := tagged("default", "SendInvoiceEmail", "booking:70", "user:3")
	running := tagged("running", "SendTicketEmail", "booking:7")
	done := tagged("done", "SendTicketEmail", "booking:TRP-7")
	failing := tagged("failing", "NotifySlack", "booking:7")
	h.insert(t, pending, delayed, other, running, done, failing)
	h.claim(t, driver.JobClaimParams{Queues: []string{"running"}, Max: 1, WorkerID: "search-test"})
	h.completeAndKeep(t, "done", time.Time{}, 0)
	f := h.claim(t, driver.JobClaimParams{Queues: []string{"failing"}, Max: 1, WorkerID: "search-test"})
	if stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{failOf(f[0], "smtp: 550 mailbox unavailable")}); err != nil || len(stale) > 0 {
		t.Fatalf("fail: stale %v, %v", stale, err)
	}

	page := h.search(t, driver.JobSearchParams{Tag: "booking:7"})
	want := []string{pending.UUID, delayed.UUID, running.UUID, failing.UUID}
	slices.Sort(want)
	if got := uuids(page.Entries); !slices.Equal(got, want) || page.More {
		t.Fatalf("search booking:7 = %v (more %v), want %v: every state, and not booking:70", got, page.More, want)
	}
	states := map[string]string{}
	for _, e := range page.Entries {
		states[e.UUID] = e.State
	}
	if states[pending.UUID] != driver.JobStatePending || states[delayed.UUID] != driver.JobStateDelayed ||
		states[running.UUID] != driver.JobStateReserved || states[failing.UUID] != driver.JobStateFailed {
		t.Errorf("states = %v", states)
	}
	for _, e := range page.Entries {
		if !slices.Contains(e.Tags, "booking:7") {
			t.Errorf("entry %s tags = %v, want booking:7 among them", e.UUID, e.Tags)
		}
	}
	byCode := h.search(t, driver.JobSearchParams{Tag: "booking:TRP-7"})
	want = []string{pending.UUID, done.UUID}
	slices.Sort(want)
	if got := uuids(byCode.Entries); !slices.Equal(got, want) {
		t.Errorf("search booking:TRP-7 = %v, want the pending and the completed job %v", got, want)
	}
	for _, e := range byCode.Entries {
		if e.UUID == done.UUID && (e.State != driver.JobStateCompleted || e.RuntimeMS != 12 || e.QueuedAt.IsZero() || e.StartedAt.IsZero() || e.JobID == 0) {
			t.Errorf("completed entry = %+v, want its times, runtime and job id", e)
		}
	}

	for _, tc := range []struct {
		name   string
		params driver.JobSearchParams
		want   []string
	}{
		{"failed by error", driver.JobSearchParams{Error: "mailbox unavailable"}, []string{failing.UUID}},
		{"failed by class", driver.JobSearchParams{States: []string{driver.JobStateFailed}, Kind: "NotifySlack"}, []string{failing.UUID}},
		{"class in every state", driver.JobSearchParams{Kind: "SendTicketEmail"}, []string{running.UUID, done.UUID}},
		{"queue", driver.JobSearchParams{Queue: "default", Tag: "user:3"}, []string{pending.UUID, other.UUID}},
		{"delayed only", driver.JobSearchParams{States: []string{driver.JobStateDelayed}}, []string{delayed.UUID}},
		{"completed only", driver.JobSearchParams{States: []string{driver.JobStateCompleted}}, []string{done.UUID}},
		{"pending and reserved", driver.JobSearchParams{States: []string{driver.JobStatePending, driver.JobStateReserved}, Tag: "booking:7"},
			[]string{pending.UUID, running.UUID}},
		{"since the future", driver.JobSearchParams{Since: now.Add(time.Hour)}, nil},
		{"until the past", driver.JobSearchParams{Until: now.Add(-time.Hour)}, nil},
		{"a tag with LIKE's wildcards", driver.JobSearchParams{Tag: "booking:_"}, nil},
	} {
		slices.Sort(tc.want)
		if got := uuids(h.search(t, tc.params).Entries); !slices.Equal(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
			t.Errorf("%s: search = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := h.browser(t).JobSearch(h.ctx, &driver.JobSearchParams{States: []string{"running"}}); err == nil {
		t.Error("search with an unknown state succeeded")
	}

	// JobFind finds each job in whatever state it is now.
	for _, e := range page.Entries {
		got, err := h.browser(t).JobFind(h.ctx, &driver.JobFindParams{UUID: e.UUID, JobID: e.JobID})
		if err != nil || got.UUID != e.UUID || got.State != e.State {
			t.Errorf("find %s (%s) = %+v, %v", e.UUID, e.State, got, err)
		}
	}
	if got, err := h.browser(t).JobFind(h.ctx, &driver.JobFindParams{UUID: done.UUID}); err != nil || got.State != driver.JobStateCompleted || string(got.Payload) != string(done.Payload) {
		t.Errorf("find the completed job = %+v, %v; want it with its payload", got, err)
	}
	if _, err := h.browser(t).JobFind(h.ctx, &driver.JobFindParams{UUID: uuid.NewString(), JobID: 1 << 40}); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("find an unknown job: err = %v, want ErrNotFound", err)
	}
}

func testJobSearchKeyset(t *testing.T, h *harness) {
	h.browser(t)
	h.admin(t)
	var all []string
	for range 4 {
		p := tagged("done", "Done", "page")
		h.insert(t, p)
		all = append(all, p.UUID)
	}
	h.completeAndKeep(t, "done", time.Time{}, 0)
	for range 3 {
		p := tagged("failing", "Fails", "page")
		h.insert(t, p)
		all = append(all, p.UUID)
	}
	for _, j := range h.claim(t, driver.JobClaimParams{Queues: []string{"failing"}, Max: 10, WorkerID: "search-test"}) {
		if _, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{failOf(j, "boom")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 6 {
		p := tagged("default", "Waits", "page")
		h.insert(t, p)
		all = append(all, p.UUID)
	}
	slices.Sort(all)

	var (
		seen   []string
		after  driver.JobCursor
		pages  int
		lastAt time.Time
	)
	for {
		page := h.search(t, driver.JobSearchParams{Tag: "page", Limit: 3, After: after})
		pages++
		if len(page.Entries) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(page.Entries))
		}
		for _, e := range page.Entries {
			if !lastAt.IsZero() && e.At.After(lastAt) {
				t.Errorf("entry %s at %v after the previous one at %v: want newest first", e.UUID, e.At, lastAt)
			}
			lastAt = e.At
			seen = append(seen, e.UUID)
		}
		if !page.More {
			break
		}
		if page.Next == after {
			t.Fatal("the cursor did not move")
		}
		// The cursor survives a trip through a URL.
		var err error
		if after, err = driver.ParseJobCursor(page.Next.String()); err != nil || after != page.Next {
			t.Fatalf("cursor %q parsed as %+v, %v", page.Next.String(), after, err)
		}
		if pages > 10 {
			t.Fatal("more than 10 pages of 3 for 13 jobs")
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, all) {
		t.Fatalf("paging saw %d jobs %v, want each of the %d once", len(seen), seen, len(all))
	}
	if pages != 5 {
		t.Errorf("13 jobs in pages of 3 took %d pages, want 5", pages)
	}
}

func testCompletedKeep(t *testing.T, h *harness) {
	adm := h.admin(t)
	tm, ok := h.d.(driver.TagMonitor)
	if !ok {
		t.Skip("drivertest: the driver has no monitored tags")
	}
	for _, tag := range []string{"booking:9", "user:1", "booking:9"} {
		if err := tm.TagMonitorAdd(h.ctx, tag); err != nil {
			t.Fatalf("monitor %s: %v", tag, err)
		}
	}
	if err := tm.TagMonitorAdd(h.ctx, `bad"tag`); err == nil {
		t.Error("monitoring a tag with a quote succeeded")
	}
	if err := tm.TagMonitorRemove(h.ctx, "user:1"); err != nil {
		t.Fatal(err)
	}
	if tags, err := tm.TagMonitorList(h.ctx); err != nil || !slices.Equal(tags, []string{"booking:9"}) {
		t.Fatalf("monitored tags = %v, %v; want [booking:9]", tags, err)
	}

	now := h.now(t)
	old := now.Add(-2 * time.Hour)
	plain, monitored, expired := tagged("plain", "Done"), tagged("monitored", "Done", "booking:9"), tagged("expired", "Done", "booking:9")
	h.insert(t, plain, monitored, expired)
	h.completeAndKeep(t, "plain", old, 0)
	h.completeAndKeep(t, "monitored", old, 7*24*time.Hour)
	h.completeAndKeep(t, "expired", old, time.Hour)
	recent := tagged("recent", "Done")
	h.insert(t, recent)
	h.completeAndKeep(t, "recent", time.Time{}, 0)

	n, err := adm.CompletedPrune(h.ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("prune deleted %d completed jobs, want 2 (the plain one and the monitored one past its keep)", n)
	}
	got := uuids(h.search(t, driver.JobSearchParams{States: []string{driver.JobStateCompleted}}).Entries)
	want := []string{monitored.UUID, recent.UUID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("completed jobs after the prune = %v, want the monitored one and the recent one %v", got, want)
	}
	if chunks, ok := h.d.(driver.ChunkPruner); ok {
		if n, err := chunks.CompletedPruneChunks(h.ctx, &driver.PruneChunksParams{OlderThan: time.Minute, ChunkSize: 1}); err != nil || n != 0 {
			t.Errorf("chunked prune of what is left = %d, %v; want 0 (a recent job and a monitored one)", n, err)
		}
	}
}
