package tripinredis

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

func sqlJobCount(t testing.TB, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM jobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func insertTx(t testing.TB, d *Driver, db *sqldb.DB, commit bool, params ...*driver.JobInsertParams) []driver.JobInsertResult {
	t.Helper()
	ctx := context.Background()
	var res []driver.JobInsertResult
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = d.JobInsertManyTx(ctx, tx, params)
	if err != nil {
		tx.Rollback()
		t.Fatalf("insert tx: %v", err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestInsertTx: a rolled-back insert never reaches Redis; a committed one
// is claimed exactly once, with the ids InsertTx returned, in id order
// with the jobs inserted around it.
func TestInsertTx(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	before := mustInsert(t, d, testJob("default", "before"))[0].ID
	rolled := insertTx(t, d, db, false, testJob("default", "rolled-back"), testJob("default", "rolled-back"))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := d.JobInsertManyTx(ctx, tx, []*driver.JobInsertParams{testJob("default", "tx"), testJob("emails", "tx")})
	if err != nil {
		t.Fatal(err)
	}
	after := mustInsert(t, d, testJob("default", "after"))[0].ID
	if !(before < committed[0].ID && committed[0].ID < committed[1].ID && committed[1].ID < after) {
		t.Fatalf("ids %d, %v, %d: want them increasing in insert order", before, committed, after)
	}
	// Before the commit nothing of the transaction is claimable, even
	// after a relay.
	if n, err := d.RelayOutbox(ctx); err != nil || n != 0 {
		t.Fatalf("relay before commit = %d, %v; want 0", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Committed but not moved yet, the outbox's jobs count as pending.
	stats, err := d.QueueStats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[string]int{}
	for _, s := range stats {
		pending[s.Queue] = s.Pending
		if s.Reserved != 0 {
			t.Fatalf("queue %s: %d reserved, want the outbox counted as pending", s.Queue, s.Reserved)
		}
	}
	if pending["default"] != 3 || pending["emails"] != 1 {
		t.Fatalf("pending before the relay = %v, want default 3 (2 in Redis, 1 in the outbox) and emails 1", pending)
	}
	// The relay above read the outbox after this transaction's InsertTx,
	// so only the time-based trigger tells a claim to look again.
	time.Sleep(claimRelayGap)
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default", "emails"}})
	want := []int64{before, committed[0].ID, after, committed[1].ID}
	if !slices.Equal(jobIDs(got), want) {
		t.Fatalf("claim = %v, want %v (rolled back: %v)", jobIDs(got), want, rolled)
	}
	for _, j := range got[1:2] {
		if j.Kind != "tx" || j.Attempts != 1 || j.UUID == "" {
			t.Fatalf("relayed job = %+v", j)
		}
	}
	if n := sqlJobCount(t, db); n != 0 {
		t.Fatalf("%d outbox rows left after the relay", n)
	}
	// Only the two jobs not completed come back after their lease:
	// nothing was pushed twice.
	if stale, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(got[:2])); err != nil || len(stale) > 0 {
		t.Fatalf("complete: stale %v, %v", stale, err)
	}
	again := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default", "emails"}, Now: time.Now().Add(time.Hour)})
	if !slices.Equal(jobIDs(again), want[2:]) {
		t.Fatalf("claim after the leases = %v, want %v", jobIDs(again), want[2:])
	}
}

// TestInsertTxDelayAndUniqueKey: a delayed InsertTx job keeps its delay,
// and unique keys are honoured across Redis and the outbox.
func TestInsertTxDelayAndUniqueKey(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	now, err := d.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keyed := func(key string) *driver.JobInsertParams {
		p := testJob("default", "SendETicketEmail")
		p.UniqueKey = key
		return p
	}
	held := mustInsert(t, d, keyed("ticket:1"))[0].ID
	delayed := testJob("default", "ExpireBooking")
	delayed.AvailableAt = now.Add(30 * time.Minute)
	res := insertTx(t, d, db, true, keyed("ticket:1"), keyed("ticket:2"), keyed("ticket:2"), delayed)
	if !res[0].Skipped || res[0].ID != held {
		t.Fatalf("tx insert of a key held in redis = %+v, want skipped with holder %d", res[0], held)
	}
	if res[1].Skipped || !res[2].Skipped || (res[2].ID != 0 && res[2].ID != res[1].ID) {
		t.Fatalf("same key twice in one tx = %+v, %+v; want inserted, then skipped", res[1], res[2])
	}
	// The outbox row holds ticket:2 until it is moved, then the Redis job.
	if r := insertTx(t, d, db, true, keyed("ticket:2"))[0]; !r.Skipped || r.ID != res[1].ID {
		t.Fatalf("tx insert of a key held by an outbox row = %+v, want skipped with holder %d", r, res[1].ID)
	}
	if n, err := d.RelayOutbox(ctx); err != nil || n != 2 {
		t.Fatalf("relay = %d, %v; want 2", n, err)
	}
	if r := mustInsert(t, d, keyed("ticket:2"))[0]; !r.Skipped || r.ID != res[1].ID {
		t.Fatalf("insert of a key held by the relayed job = %+v, want skipped with holder %d", r, res[1].ID)
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, RetryAfter: 2 * time.Hour})
	if !slices.Equal(jobIDs(got), []int64{held, res[1].ID}) {
		t.Fatalf("claim = %v, want %d and %d; the delayed job later", jobIDs(got), held, res[1].ID)
	}
	got = mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Now: now.Add(31 * time.Minute), RetryAfter: 2 * time.Hour})
	if len(got) != 1 || got[0].ID != res[3].ID || !got[0].AvailableAt.Equal(delayed.AvailableAt.Truncate(time.Second)) {
		t.Fatalf("claim at +31m = %+v, want the delayed job %d available at %v", got, res[3].ID, delayed.AvailableAt)
	}
}

// TestRelayExactlyOnce races several relays, of several "processes", over
// the same committed rows, and replays a relay that died between its push
// and its delete: each job reaches Redis exactly once.
func TestRelayExactlyOnce(t *testing.T) {
	rdb := testRedis(t)
	db := queuetest.OpenDB(t, sqldb.SQLite)
	d := newDriverOn(t, rdb, db, randomPrefix())
	ctx := context.Background()
	// Rows as a relay that died after pushing and before deleting left
	// them: pushed with their markers, still in the outbox.
	crashed := insertTx(t, d, db, true, testJob("default", "crashed"), testJob("default", "crashed"))
	rows, err := d.readOutbox(ctx)
	if err != nil || len(rows) != 2 {
		t.Fatalf("outbox = %d rows, %v", len(rows), err)
	}
	var pushed []insertArgs
	for _, r := range rows {
		id, _ := outboxID(r.ReservedBy)
		pushed = append(pushed, insertArgs{id: id, uuid: r.UUID, queue: r.Queue, kind: r.Kind, payload: r.Payload,
			availableAt: r.AvailableAt.Unix(), createdAt: r.CreatedAt.Unix(),
			marker: d.key("outbox:", strconv.FormatInt(r.ID, 10), ":", r.UUID)})
	}
	if _, err := d.insert(ctx, pushed); err != nil {
		t.Fatal(err)
	}

	var want []int64
	for _, r := range crashed {
		want = append(want, r.ID)
	}
	for range 10 {
		params := make([]*driver.JobInsertParams, 120)
		for i := range params {
			params[i] = testJob("default", "tx")
		}
		for _, r := range insertTx(t, d, db, true, params...) {
			want = append(want, r.ID)
		}
	}
	// Two more drivers on the same Redis and database play two more
	// processes.
	relays := []*Driver{d, newDriverOn(t, rdb, db, d.prefix), newDriverOn(t, rdb, db, d.prefix)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added int
		errs  []error
	)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := relays[i%len(relays)].RelayOutbox(ctx)
			mu.Lock()
			added += n
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("relay: %v", errs[0])
	}
	if added != len(want)-len(crashed) {
		t.Fatalf("relays added %d jobs, want %d (the crashed relay's two were pushed already)", added, len(want)-len(crashed))
	}
	if n := sqlJobCount(t, db); n != 0 {
		t.Fatalf("%d outbox rows left", n)
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Max: 10000})
	slices.Sort(want)
	if !slices.Equal(jobIDs(got), want) {
		t.Fatalf("claimed %d jobs, want each of the %d committed once", len(got), len(want))
	}
}

// TestClaimRelays checks that a worker finds a committed InsertTx job by
// itself, without anyone calling RelayOutbox: on a claim that comes up
// short, and from the background relay while its claims are full.
func TestClaimRelays(t *testing.T) {
	d, db := newTestDriver(t, func(o *Options) { o.RelayInterval = 50 * time.Millisecond })
	id := insertTx(t, d, db, true, testJob("default", "tx"))[0].ID
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}})
	if !slices.Equal(jobIDs(got), []int64{id}) {
		t.Fatalf("claim = %v, want the committed job %d", jobIDs(got), id)
	}
	// A backlog keeps the claims full; the background relay moves the
	// next committed job anyway.
	mustInsert(t, d, testJob("backlog", "a"), testJob("backlog", "b"))
	id = insertTx(t, d, db, true, testJob("default", "tx"))[0].ID
	deadline := time.Now().Add(5 * time.Second)
	for sqlJobCount(t, db) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the background relay did not move the committed job within 5s")
		}
		mustClaim(t, d, driver.JobClaimParams{Queues: []string{"backlog"}, Max: 1, RetryAfter: time.Hour})
		time.Sleep(20 * time.Millisecond)
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}}); !slices.Equal(jobIDs(got), []int64{id}) {
		t.Fatalf("claim = %v, want %d", jobIDs(got), id)
	}
}

// TestOutboxRowsInvisibleToSQLWorkers: a SQL worker pointed at the same
// database by mistake never takes an outbox row.
func TestOutboxRowsInvisibleToSQLWorkers(t *testing.T) {
	d, db := newTestDriver(t)
	insertTx(t, d, db, true, testJob("default", "tx"))
	jobs, err := d.sql.JobClaim(context.Background(), &driver.JobClaimParams{Queues: []string{"default"}, Max: 10, WorkerID: "sql", RetryAfter: time.Second})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("SQL claim of an outbox row = %d jobs, %v; want none", len(jobs), err)
	}
	var by sql.NullString
	if err := db.QueryRowContext(context.Background(), "SELECT reserved_by FROM jobs").Scan(&by); err != nil || by.String == "" {
		t.Fatalf("outbox row reserved_by = %q, %v", by.String, err)
	}
}

// sqlDriverFor returns the SQL queue driver of db's dialect.
func sqlDriverFor(t testing.TB, db *sqldb.DB) SQLDriver {
	t.Helper()
	switch db.Dialect {
	case sqldb.MySQL:
		d, err := tripinmysql.New(context.Background(), db, tripinmysql.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	case sqldb.PgSQL:
		return tripinpgsql.New(db, tripinpgsql.Options{})
	}
	return tripinsqlite.New(db, tripinsqlite.Options{})
}

// TestSQLSideEachDialect runs what the driver writes in SQL (the outbox,
// failed_jobs, retries from it) on every database the run has: SQLite
// always, MySQL and PostgreSQL when their test DSNs are set.
func TestSQLSideEachDialect(t *testing.T) {
	rdb := testRedis(t)
	sqldbtest.Each(t, func(t *testing.T, dialect sqldb.Dialect) {
		db := queuetest.OpenDB(t, dialect)
		d := newDriverOn(t, rdb, db, randomPrefix(), func(o *Options) { o.SQL = sqlDriverFor(t, db) })
		ctx := context.Background()
		keyed := testJob("default", "tx")
		keyed.UniqueKey = "k"
		insertTx(t, d, db, false, testJob("default", "rolled-back"))
		res := insertTx(t, d, db, true, keyed, testJob("default", "tx"))
		if r := insertTx(t, d, db, true, keyed)[0]; !r.Skipped || r.ID != res[0].ID {
			t.Fatalf("insert of a key an outbox row holds = %+v, want skipped with holder %d", r, res[0].ID)
		}
		if jobs, err := d.sql.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 10, WorkerID: "sql", RetryAfter: time.Second}); err != nil || len(jobs) != 0 {
			t.Fatalf("SQL claim of outbox rows = %d, %v; want none", len(jobs), err)
		}
		got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}})
		if !slices.Equal(jobIDs(got), []int64{res[0].ID, res[1].ID}) {
			t.Fatalf("claim = %v, want %v", jobIDs(got), res)
		}
		if n := sqlJobCount(t, db); n != 0 {
			t.Fatalf("%d outbox rows left", n)
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		stale, err := d.JobFailMany(ctx, []*driver.JobFailParams{
			{ID: got[0].ID, WorkerID: "w", Claim: 1, Exception: "first", Now: at},
			{ID: got[1].ID, WorkerID: "w", Claim: 1, Connection: "redis", Exception: "second"},
		})
		if err != nil || len(stale) > 0 {
			t.Fatalf("fail: stale %v, %v", stale, err)
		}
		failed, err := d.FailedList(ctx, nil)
		if err != nil || len(failed) != 2 {
			t.Fatalf("failed jobs = %d, %v; want 2", len(failed), err)
		}
		f, err := d.FailedGet(ctx, got[0].UUID)
		if err != nil || f.Exception != "first" || !f.FailedAt.Equal(at) || f.Queue != "default" {
			t.Fatalf("failed job = %+v, %v; want the exception and the injected time", f, err)
		}
		moved, err := d.FailedRetry(ctx, &driver.FailedRetryParams{All: true, DefaultMaxAttempts: 2})
		if err != nil || len(moved) != 2 {
			t.Fatalf("retry all = %d, %v", len(moved), err)
		}
		again := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}})
		if len(again) != 2 || again[0].UUID != got[0].UUID || again[0].MaxAttempts != 2 || again[0].Attempts != 1 {
			t.Fatalf("claim after retry = %+v", again)
		}

		// The outbox seen by JobExists, and a lost job's failed row.
		pending := insertTx(t, d, db, true, testJob("lost", "x"))[0].ID
		if ok, err := d.JobExists(ctx, pending); err != nil || !ok {
			t.Fatalf("outbox job exists = %v, %v", ok, err)
		}
		if n, err := d.RelayOutbox(ctx); err != nil || n != 1 {
			t.Fatalf("relay = %d, %v", n, err)
		}
		deleteHash(t, d, pending)
		if ok, err := d.JobExists(ctx, pending); err != nil || ok {
			t.Fatalf("deleted job exists = %v, %v", ok, err)
		}
		mustClaim(t, d, driver.JobClaimParams{Queues: []string{"lost"}})
		lost, err := d.FailedList(ctx, &driver.FailedListParams{Queue: "lost"})
		if err != nil || len(lost) != 1 || !isLostPayload(lost[0].Payload) || lost[0].Connection != "redis" ||
			!strings.Contains(lost[0].Exception, "was lost: the job's data was missing from Redis") {
			t.Fatalf("lost job's failed row = %+v, %v", lost, err)
		}
	})
}

// TestRelayAfterRedisLostItsData: a Redis that lost its data (restarted
// empty, here its keys deleted) seeds its id counter from its clock, so
// the ids it draws next are above every id drawn before, those of the
// outbox rows still waiting included: the rows are moved with the ids
// InsertTx returned, and no id is ever given to two jobs.
func TestRelayAfterRedisLostItsData(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	before := mustInsert(t, d, testJob("default", "lost"))[0].ID
	tx := insertTx(t, d, db, true, testJob("default", "tx"), testJob("default", "tx"))
	if tx[0].ID <= before || tx[1].ID != tx[0].ID+1 {
		t.Fatalf("outbox ids %v after %d: want the next two", tx, before)
	}
	deleteKeys(t, d.rdb.(*redis.Client), d.prefix) // the restart
	direct := mustInsert(t, d, testJob("default", "new"), testJob("default", "new"))
	for _, r := range direct {
		if r.ID <= tx[1].ID {
			t.Fatalf("after the wipe the counter drew %d, not above the outbox's %d", r.ID, tx[1].ID)
		}
	}
	if n, err := d.RelayOutbox(ctx); err != nil || n != 2 {
		t.Fatalf("relay = %d, %v; want 2", n, err)
	}
	next := mustInsert(t, d, testJob("default", "next"))[0].ID
	if next <= direct[1].ID {
		t.Fatalf("next id %d after %d", next, direct[1].ID)
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}})
	byID := map[int64]string{}
	for _, j := range got {
		if _, dup := byID[j.ID]; dup {
			t.Fatalf("id %d claimed twice", j.ID)
		}
		byID[j.ID] = j.Kind
	}
	want := map[int64]string{tx[0].ID: "tx", tx[1].ID: "tx", direct[0].ID: "new", direct[1].ID: "new", next: "next"}
	if len(byID) != len(want) {
		t.Fatalf("claimed %v, want %v", byID, want)
	}
	for id, kind := range want {
		if byID[id] != kind {
			t.Fatalf("claimed %v, want %v: every job under the id its insert returned", byID, want)
		}
	}
}
