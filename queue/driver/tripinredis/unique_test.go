package tripinredis

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// keyTTL returns the TTL of the unique key uk, failing when it has none.
func keyTTL(t testing.TB, d *Driver, uk string) time.Duration {
	t.Helper()
	ttl, err := d.rdb.TTL(context.Background(), d.key("unique:", uk)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 {
		t.Fatalf("unique key %s has TTL %v, want one", uk, ttl)
	}
	return ttl
}

// within fails unless got is want, less at most slack (the seconds the
// test itself takes).
func within(t testing.TB, what string, got, want time.Duration) {
	t.Helper()
	const slack = 5 * time.Second
	if got > want || got < want-slack {
		t.Fatalf("%s: TTL %v, want %v (less at most %v)", what, got, want, slack)
	}
}

// TestUniqueKeyTTL follows a unique key through a job's life: it lasts
// until the job is due plus the margin when inserted delayed, the lease
// plus the margin when claimed or renewed, and the retry's delay plus the
// margin when the job waits again; so a job delayed 30 minutes or retried
// an hour later keeps its key, and the key is gone once the job is.
func TestUniqueKeyTTL(t *testing.T) {
	const margin = 24 * time.Hour
	d, _ := newTestDriver(t)
	ctx := context.Background()
	p := testJob("default", "keyed")
	p.UniqueKey = "tour:9:reminder"
	p.Delay = 30 * time.Minute
	id := mustInsert(t, d, p)[0].ID
	within(t, "inserted 30 minutes ahead", keyTTL(t, d, p.UniqueKey), 30*time.Minute+margin)
	if r := mustInsert(t, d, p)[0]; !r.Skipped || r.ID != id {
		t.Fatalf("second insert = %+v, want skipped for %d", r, id)
	}

	now, err := d.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, RetryAfter: 2 * time.Minute, Now: now.Add(31 * time.Minute)})
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("claim = %v, want %d", jobIDs(got), id)
	}
	within(t, "claimed with a 2-minute lease", keyTTL(t, d, p.UniqueKey), 2*time.Minute+margin)

	hb := &driver.JobHeartbeatParams{WorkerID: "w", Jobs: driver.CompleteParamsOf(got).Jobs, Lease: 10 * time.Minute}
	if lost, err := d.JobHeartbeatMany(ctx, hb); err != nil || len(lost) > 0 {
		t.Fatalf("heartbeat = %v, %v", lost, err)
	}
	within(t, "renewed for 10 minutes", keyTTL(t, d, p.UniqueKey), 10*time.Minute+margin)

	retry := &driver.JobRetryParams{ID: id, WorkerID: "w", Claim: got[0].ClaimSeq, Delay: time.Hour, Error: "busy"}
	if stale, err := d.JobRetryMany(ctx, []*driver.JobRetryParams{retry}); err != nil || len(stale) > 0 {
		t.Fatalf("retry = %v, %v", stale, err)
	}
	within(t, "retried an hour later", keyTTL(t, d, p.UniqueKey), time.Hour+margin)

	got = mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Now: now.Add(2 * time.Hour)})
	if stale, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(got)); err != nil || len(stale) > 0 || len(got) != 1 {
		t.Fatalf("complete %v = %v, %v", jobIDs(got), stale, err)
	}
	if n := countKeys(t, d, "unique:*"); n != 0 {
		t.Fatalf("%d unique keys left after the job completed", n)
	}
}

// TestLostJobFreesItsKeyAfterTheTTL uses a one-second margin. A job whose
// hash was deleted blocks nobody: its key names a job that is gone, which
// insert and InsertTx both see, and the key itself expires after the TTL.
// A job whose data is still there but whose id left its queue (it can
// never run) blocks its successors only until the TTL.
func TestLostJobFreesItsKeyAfterTheTTL(t *testing.T) {
	// A margin of a few seconds: long enough that a slow, loaded machine
	// still sees the keys live between the round trips that check them.
	d, db := newTestDriver(t, func(o *Options) { o.UniqueTTLMargin = 4 * time.Second })
	ctx := context.Background()
	waitGone := func(uk string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := d.rdb.Exists(ctx, d.key("unique:", uk)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("unique key %s still there 30s after a 4s TTL", uk)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	deleted := testJob("default", "deleted")
	deleted.UniqueKey = "deleted"
	id := mustInsert(t, d, deleted)[0].ID
	deleteHash(t, d, id)
	if n := countKeys(t, d, "unique:deleted"); n != 1 {
		t.Fatalf("the deleted job's key is gone at once (%d keys): the test shows nothing", n)
	}
	if r := insertTx(t, d, db, false, deleted)[0]; r.Skipped {
		t.Fatalf("InsertTx with the key of a deleted job = %+v, want inserted", r)
	}
	waitGone("deleted")
	if r := mustInsert(t, d, deleted)[0]; r.Skipped {
		t.Fatalf("insert after the TTL = %+v, want inserted", r)
	}

	stuck := testJob("other", "stuck")
	stuck.UniqueKey = "stuck"
	sid := mustInsert(t, d, stuck)[0].ID
	if err := d.rdb.ZRem(ctx, d.key("q:other:pending"), fmtMember(sid)).Err(); err != nil {
		t.Fatal(err)
	}
	if r := mustInsert(t, d, stuck)[0]; !r.Skipped || r.ID != sid {
		t.Fatalf("insert while the stuck job's key lives = %+v, want skipped for %d", r, sid)
	}
	waitGone("stuck")
	r := mustInsert(t, d, stuck)[0]
	if r.Skipped {
		t.Fatalf("insert after the TTL = %+v, want inserted", r)
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"other"}}); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("claim = %v, want the successor %d", jobIDs(got), r.ID)
	}
}

func fmtMember(id int64) string {
	s := strconv.FormatInt(id, 10)
	for len(s) < 19 {
		s = "0" + s
	}
	return s
}

// TestJobExists follows a job through the outbox and Redis: it exists
// while its outbox row waits and once moved, and is gone when completed;
// a rolled-back job never existed.
func TestJobExists(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	exists := func(id int64) bool {
		t.Helper()
		ok, err := d.JobExists(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	committed := insertTx(t, d, db, true, testJob("default", "a"))[0].ID
	rolledBack := insertTx(t, d, db, false, testJob("default", "b"))[0].ID
	if !exists(committed) || exists(rolledBack) {
		t.Fatalf("in the outbox: committed %v, rolled back %v; want true, false", exists(committed), exists(rolledBack))
	}
	if n, err := d.RelayOutbox(ctx); err != nil || n != 1 || sqlJobCount(t, db) != 0 {
		t.Fatalf("relay = %d, %v", n, err)
	}
	if !exists(committed) {
		t.Fatal("a job moved into redis does not exist")
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}})
	if !exists(committed) {
		t.Fatal("a running job does not exist")
	}
	if stale, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(got)); err != nil || len(stale) > 0 {
		t.Fatalf("complete = %v, %v", stale, err)
	}
	if exists(committed) {
		t.Fatal("a completed job still exists")
	}
}
