package tripinredis

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinredis/redistest"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// TestRedisRestartWithoutPersistence checks what README ("Redis queue")
// says a restart of a Redis without persistence loses, on a redis-server
// of its own killed and started again:
//
//   - lost: every job in Redis, waiting, delayed or running; the unique
//     keys; the id counter;
//   - kept: failed_jobs, batches, and the outbox rows of committed
//     InsertTx not yet moved into Redis, which are moved afterwards with
//     the ids InsertTx returned;
//
// ids drawn after the restart never collide with an id drawn before it
// (the outbox's included), and a worker running across a restart carries
// on with new jobs.
func TestRedisRestartWithoutPersistence(t *testing.T) {
	srv := redistest.Start(t, "--save", "", "--appendonly", "no")
	rdb := srv.Client()
	db := queuetest.OpenDB(t, sqldb.SQLite)
	// The relay loop would move the outbox rows before the restart: it
	// waits an hour here, and the worker relays when it claims.
	d := newDriverOn(t, rdb, db, randomPrefix(), func(o *Options) { o.RelayInterval = time.Hour })
	ctx := context.Background()

	var (
		mu   sync.Mutex
		runs = map[int][]int64{} // N → the ids it ran under
		ws   = queue.NewWorkers()
	)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[engineArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		runs[j.Args.N] = append(runs[j.Args.N], j.ID)
		return nil
	}))
	c, err := queue.NewClient(d, &queue.Config{Workers: ws, Connection: "redis", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(n int, opts *queue.InsertOpts) int64 {
		t.Helper()
		r, err := c.Insert(ctx, engineArgs{N: n}, opts)
		if err != nil || r.Skipped {
			t.Fatalf("insert %d = %+v, %v", n, r, err)
		}
		return r.ID
	}

	// In Redis: waiting, delayed, unique and running jobs.
	var before []int64
	before = append(before,
		insert(1, &queue.InsertOpts{Queue: "held"}),
		insert(2, &queue.InsertOpts{Queue: "held", Delay: time.Hour}),
		insert(3, &queue.InsertOpts{Queue: "held", UniqueKey: "tour:1:reminder"}),
		insert(4, &queue.InsertOpts{Queue: "busy"}))
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"busy"}, WorkerID: "ghost"}); len(got) != 1 {
		t.Fatalf("claim of the running job = %v", jobIDs(got))
	}
	// In SQL: a failed job and a batch.
	doomed := mustInsert(t, d, testJob("doomed", "x"))[0].ID
	before = append(before, doomed)
	claimed := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"doomed"}, WorkerID: "w"})
	if stale, err := d.JobFailMany(ctx, []*driver.JobFailParams{{ID: doomed, WorkerID: "w", Claim: claimed[0].ClaimSeq, Exception: "boom"}}); err != nil || len(stale) > 0 {
		t.Fatalf("fail = %v, %v", stale, err)
	}
	if _, err := d.BatchCreate(ctx, &driver.BatchCreateParams{ID: "batch-1", Name: "reminders", TotalJobs: 2}); err != nil {
		t.Fatal(err)
	}
	// In the outbox: two committed InsertTx jobs, not moved yet.
	var outbox []int64
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		for _, n := range []int{5, 6} {
			r, err := c.InsertTx(ctx, tx, engineArgs{N: n}, nil)
			if err != nil {
				return err
			}
			outbox = append(outbox, r.ID)
		}
		return nil
	})
	if err != nil || sqlJobCount(t, db) != 2 {
		t.Fatalf("insert into the outbox: %v, %d rows", err, sqlJobCount(t, db))
	}
	before = append(before, outbox...)
	top := slices.Max(before)

	srv.Restart()

	// Lost: every job that was in Redis, the unique key, the counter.
	for _, id := range before[:4] {
		if ok, err := d.JobExists(ctx, id); err != nil || ok {
			t.Fatalf("job %d exists = %v, %v after the restart; want it lost", id, ok, err)
		}
	}
	if n := countKeys(t, d, "*"); n != 0 {
		t.Fatalf("%d keys under the prefix after the restart, want none", n)
	}
	stats, err := d.QueueStats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"held", "busy"} {
		if s := statOf(stats, q); s != nil && s.Size() != 0 {
			t.Fatalf("queue %s = %+v after the restart, want empty", q, s)
		}
	}
	// Kept: failed_jobs, the batch, the outbox rows (counted as pending).
	if s := statOf(stats, "doomed"); s == nil || s.Failed != 1 {
		t.Fatalf("doomed = %+v, want its failed job kept", s)
	}
	if s := statOf(stats, "default"); s == nil || s.Pending != 2 {
		t.Fatalf("default = %+v, want the 2 outbox jobs pending", s)
	}
	if b, err := d.BatchGet(ctx, "batch-1"); err != nil || b.TotalJobs != 2 {
		t.Fatalf("batch = %+v, %v; want it kept", b, err)
	}
	for _, id := range outbox {
		if ok, err := d.JobExists(ctx, id); err != nil || !ok {
			t.Fatalf("outbox job %d exists = %v, %v; want it kept", id, ok, err)
		}
	}

	// New ids are above every id drawn before, the outbox's included; the
	// unique key is free again.
	fresh := insert(7, nil)
	keyed := insert(8, &queue.InsertOpts{UniqueKey: "tour:1:reminder"})
	if fresh <= top || keyed <= fresh {
		t.Fatalf("ids after the restart %d, %d; want them above %d, the highest before", fresh, keyed, top)
	}

	// A worker moves the outbox jobs with their ids and runs them with the
	// new jobs; a second restart under it does not stop it.
	if err := c.Start(ctx, queue.WorkParams{
		Queues: []string{"default", "held", "busy"}, Concurrency: 2,
		Sleep: 50 * time.Millisecond, PollInterval: 10 * time.Millisecond, RestartInterval: -1,
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Stop(sctx); err != nil {
			t.Errorf("stop the worker: %v", err)
		}
	}()
	waitRuns := func(want map[int]int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			done := true
			for n := range want {
				done = done && len(runs[n]) > 0
			}
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("runs = %v after 20s, want %v", runs, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want := map[int]int64{5: outbox[0], 6: outbox[1], 7: fresh, 8: keyed}
	waitRuns(want)

	srv.Restart()
	var again int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The client's pool reconnects; its first command may still meet
		// a connection the kill closed.
		r, err := c.Insert(ctx, engineArgs{N: 9}, nil)
		if err == nil {
			again = r.ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("insert after the second restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if again <= keyed {
		t.Fatalf("id %d after the second restart, want it above %d", again, keyed)
	}
	want[9] = again
	waitRuns(want)
	select {
	case <-c.Stopped():
		t.Fatal("the worker stopped")
	default:
	}

	mu.Lock()
	defer mu.Unlock()
	for n, ids := range runs {
		id, ok := want[n]
		if !ok || len(ids) != 1 || ids[0] != id {
			t.Fatalf("job %d ran as %v; want exactly %v: the jobs lost with Redis never run, the others once, under the id their insert returned", n, ids, want)
		}
	}
}

// TestRelayKeepsRowsRedisRefused: a Redis at its maxmemory with
// noeviction refuses the relay's writes, and the outbox rows stay in SQL
// (the jobs still exist) until Redis takes them: a row is deleted only
// once Redis has its job.
func TestRelayKeepsRowsRedisRefused(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "noeviction")
	rdb := srv.Client()
	db := queuetest.OpenDB(t, sqldb.SQLite)
	d := newDriverOn(t, rdb, db, randomPrefix(), func(o *Options) { o.RelayInterval = time.Hour })
	ctx := context.Background()
	res := insertTx(t, d, db, true, testJob("default", "a"), testJob("default", "b"))
	if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	n, err := d.RelayOutbox(ctx)
	if err == nil || !strings.Contains(err.Error(), "OOM") || n != 0 {
		t.Fatalf("relay into a full redis = %d, %v; want Redis's OOM refusal", n, err)
	}
	if rows := sqlJobCount(t, db); rows != 2 {
		t.Fatalf("%d outbox rows after the refused relay, want 2", rows)
	}
	for _, r := range res {
		if ok, err := d.JobExists(ctx, r.ID); err != nil || !ok {
			t.Fatalf("job %d exists = %v, %v; want true", r.ID, ok, err)
		}
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := d.RelayOutbox(ctx); err != nil || n != 2 || sqlJobCount(t, db) != 0 {
		t.Fatalf("relay = %d, %v, %d rows left; want both moved", n, err, sqlJobCount(t, db))
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}})
	if !slices.Equal(jobIDs(got), []int64{res[0].ID, res[1].ID}) {
		t.Fatalf("claim = %v, want %d and %d", jobIDs(got), res[0].ID, res[1].ID)
	}
}
