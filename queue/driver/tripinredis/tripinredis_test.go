package tripinredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// redisEnv names the Redis server the tests use, such as
// redis://127.0.0.1:6379/0. Each test writes under a prefix of its own and
// deletes its keys at the end, so the database may be shared.
const redisEnv = "TRIPIN_TEST_REDIS_URL"

// testRedis returns a client on the test server. Without one the test
// skips, except in CI (CI=true), where a missing server must not pass
// silently.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv(redisEnv)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI runs the Redis driver's tests on a real server", redisEnv)
		}
		t.Skipf("%s not set (e.g. redis://127.0.0.1:6379/0): skipping the Redis driver's tests", redisEnv)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", redisEnv, err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", url, err)
	}
	return rdb
}

func randomPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "tripin:test:" + hex.EncodeToString(b) + ":"
}

// newTestDriver returns a driver on the test Redis under a fresh prefix,
// with a fresh SQLite database for its SQL side.
func newTestDriver(t testing.TB, mod ...func(*Options)) (*Driver, *sqldb.DB) {
	t.Helper()
	rdb := testRedis(t)
	db := queuetest.OpenDB(t, sqldb.SQLite)
	return newDriverOn(t, rdb, db, randomPrefix(), mod...), db
}

// newDriverOn returns a driver on rdb and db under prefix; several drivers
// on the same prefix play several processes.
func newDriverOn(t testing.TB, rdb *redis.Client, db *sqldb.DB, prefix string, mod ...func(*Options)) *Driver {
	t.Helper()
	opts := Options{Prefix: prefix, DB: db, SQL: tripinsqlite.New(db, tripinsqlite.Options{})}
	for _, m := range mod {
		m(&opts)
	}
	d, err := New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		deleteKeys(t, rdb, prefix)
	})
	return d
}

func deleteKeys(t testing.TB, rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("scan test keys: %v", err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			t.Logf("delete test keys: %v", err)
		}
		keys = keys[n:]
	}
}

// sharedTableCases are the conformance cases whose SQL checks look only at
// what the Redis driver keeps in SQL too: the outbox of InsertTx,
// failed_jobs counts and the process registry.
var sharedTableCases = map[string]bool{
	"InsertTx": true, "ConcurrentWorkers": true,
	"ProcessHeartbeat": true, "ProcessList": true, "ProcessPrune": true,
}

// TestConformance runs the shared suite. Most cases get no database: the
// suite reads job rows from the SQL jobs table, where Redis jobs are not,
// so the cases that need it skip (Fail; its ground is covered by
// TestFailAndRetryFromFailed). The cases of sharedTableCases get it.
func TestConformance(t *testing.T) {
	testRedis(t) // skips without a server
	drivertest.Exercise(t, func(t *testing.T) (driver.Driver, *sqldb.DB) {
		d, db := newTestDriver(t)
		if sharedTableCases[path.Base(t.Name())] {
			return d, db
		}
		return d, nil
	})
}

func testJob(queue, kind string) *driver.JobInsertParams {
	return &driver.JobInsertParams{Queue: queue, Kind: kind, Payload: fmt.Appendf(nil, `{"job":%q,"data":{}}`, kind), MaxAttempts: 3}
}

func mustInsert(t testing.TB, d driver.Driver, params ...*driver.JobInsertParams) []driver.JobInsertResult {
	t.Helper()
	res, err := d.JobInsertMany(context.Background(), params)
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	return res
}

func mustClaim(t testing.TB, d driver.Driver, p driver.JobClaimParams) []*driver.JobRow {
	t.Helper()
	if p.WorkerID == "" {
		p.WorkerID = "w"
	}
	if p.Max == 0 {
		p.Max = 100
	}
	jobs, err := d.JobClaim(context.Background(), &p)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return jobs
}

func jobIDs(jobs []*driver.JobRow) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// countKeys counts the keys under the driver's prefix that match pattern.
func countKeys(t testing.TB, d *Driver, pattern string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	iter := d.rdb.Scan(ctx, 0, d.prefix+pattern, 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConcurrentInsertAndClaim inserts 8 × 2,000 jobs from 8 goroutines
// while 8 others claim and complete them: every job is claimed exactly
// once, ids are unique, and nothing is left in Redis.
func TestConcurrentInsertAndClaim(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := context.Background()
	const producers, perProducer, claimers = 8, 2000, 8
	var (
		mu       sync.Mutex
		inserted = map[int64]bool{}
		claimed  = map[int64]string{}
		errs     []error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	done := make(chan struct{})
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i += 50 {
				params := make([]*driver.JobInsertParams, 50)
				for k := range params {
					params[k] = testJob("default", fmt.Sprintf("p%d", p))
				}
				res, err := d.JobInsertMany(ctx, params)
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				for _, r := range res {
					if inserted[r.ID] || r.Skipped {
						errs = append(errs, fmt.Errorf("insert result %+v repeats an id or was skipped", r))
					}
					inserted[r.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	var cwg sync.WaitGroup
	for w := range claimers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			worker := fmt.Sprintf("worker-%d", w)
			for {
				jobs, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1 + w*5, WorkerID: worker, RetryAfter: time.Hour})
				if err != nil {
					fail(err)
					return
				}
				if len(jobs) == 0 {
					select {
					case <-done:
						// Producers are finished: one more empty claim
						// means the queue is drained.
						if more, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: worker, RetryAfter: time.Hour}); err != nil || len(more) == 0 {
							return
						} else {
							jobs = more
						}
					default:
						time.Sleep(time.Millisecond)
						continue
					}
				}
				mu.Lock()
				for _, j := range jobs {
					if other, dup := claimed[j.ID]; dup {
						errs = append(errs, fmt.Errorf("job %d claimed by %s and %s", j.ID, other, worker))
					}
					claimed[j.ID] = worker
					if j.Attempts != 1 || j.ReservedBy != worker {
						errs = append(errs, fmt.Errorf("job %d: attempts %d reserved_by %q", j.ID, j.Attempts, j.ReservedBy))
					}
				}
				mu.Unlock()
				if stale, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(jobs)); err != nil || len(stale) > 0 {
					fail(fmt.Errorf("complete: stale %v, %v", stale, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	cwg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if len(inserted) != producers*perProducer || len(claimed) != len(inserted) {
		t.Fatalf("inserted %d, claimed %d, want %d each", len(inserted), len(claimed), producers*perProducer)
	}
	for id := range inserted {
		if _, ok := claimed[id]; !ok {
			t.Fatalf("job %d never claimed", id)
		}
	}
	if n := countKeys(t, d, "job:*"); n != 0 {
		t.Fatalf("%d job hashes left after completing every job", n)
	}
	if n := countKeys(t, d, "q:*"); n != 0 {
		t.Fatalf("%d queue sets left after completing every job", n)
	}
}

// TestLeaseExpiresOnTheRedisClock reserves a job with a one-second lease,
// marks it started with a heartbeat, and lets the lease run out for real:
// the job is delivered again, with its attempt counted.
func TestLeaseExpiresOnTheRedisClock(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := context.Background()
	id := mustInsert(t, d, testJob("default", "a"))[0].ID
	first := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, WorkerID: "dead", RetryAfter: time.Second})
	if !slices.Equal(jobIDs(first), []int64{id}) {
		t.Fatalf("claim = %v, want %d", jobIDs(first), id)
	}
	hb := &driver.JobHeartbeatParams{WorkerID: "dead", Jobs: driver.CompleteParamsOf(first).Jobs, Lease: time.Second}
	if lost, err := d.JobHeartbeatMany(ctx, hb); err != nil || len(lost) > 0 {
		t.Fatalf("heartbeat = lost %v, %v", lost, err)
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, RetryAfter: time.Second}); len(got) != 0 {
		t.Fatalf("claim within the lease = %v, want nothing", jobIDs(got))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, WorkerID: "rescuer", RetryAfter: time.Second})
		if len(got) == 1 {
			if got[0].ID != id || got[0].Attempts != 2 || got[0].ReservedBy != "rescuer" {
				t.Fatalf("redelivered job = %+v, want %d with attempts 2", got[0], id)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the job was not delivered again within 5s of a 1s lease")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFailAndRetryFromFailed fails a job into the SQL failed_jobs table
// and retries it from there back into Redis.
func TestFailAndRetryFromFailed(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	p := testJob("emails", "SendInvoiceEmail")
	p.UUID = "3f1c1a52-3f57-4d1c-9a0e-5d1d2f6b7c01"
	p.UniqueKey = "invoice:1"
	p.Payload = []byte(`{"uuid":"3f1c1a52-3f57-4d1c-9a0e-5d1d2f6b7c01","job":"SendInvoiceEmail","maxTries":5,"data":{"id":1}}`)
	id := mustInsert(t, d, p)[0].ID
	mustClaim(t, d, driver.JobClaimParams{Queues: []string{"emails"}})
	stale, err := d.JobFailMany(ctx, []*driver.JobFailParams{{ID: id, WorkerID: "w", Claim: 1, Connection: "redis", Exception: "mail: smtp: 550 no such user\nstack"}})
	if err != nil || len(stale) > 0 {
		t.Fatalf("fail: stale %v, %v", stale, err)
	}
	var uuid, conn, queue, payload, exception string
	if err := db.QueryRowContext(ctx, "SELECT uuid, connection, queue, payload, exception FROM failed_jobs").
		Scan(&uuid, &conn, &queue, &payload, &exception); err != nil {
		t.Fatalf("read failed_jobs: %v", err)
	}
	if uuid != p.UUID || conn != "redis" || queue != "emails" || payload != string(p.Payload) || exception != "mail: smtp: 550 no such user\nstack" {
		t.Fatalf("failed row = %q %q %q %q %q", uuid, conn, queue, payload, exception)
	}
	if n := countKeys(t, d, "job:*"); n != 0 {
		t.Fatalf("%d job hashes left in redis after the failure", n)
	}
	// The failure freed the unique key.
	if r := mustInsert(t, d, &driver.JobInsertParams{Queue: "other", Kind: "k", Payload: []byte(`{}`), UniqueKey: "invoice:1"})[0]; r.Skipped {
		t.Fatalf("insert with the failed job's key = %+v, want inserted", r)
	}

	stats, err := d.QueueStats(ctx, &driver.QueueStatsParams{Queues: []string{"emails"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := statOf(stats, "emails"); s == nil || s.Failed != 1 || s.Size() != 0 {
		t.Fatalf("stats of emails = %+v, want one failed job and none waiting", s)
	}

	moved, err := d.FailedRetry(ctx, &driver.FailedRetryParams{IDs: []string{p.UUID}, DefaultMaxAttempts: 1})
	if err != nil || len(moved) != 1 || moved[0].UUID != p.UUID {
		t.Fatalf("retry = %+v, %v; want the failed job", moved, err)
	}
	if n, err := d.FailedCount(ctx, ""); err != nil || n != 0 {
		t.Fatalf("failed count after retry = %d, %v; want 0", n, err)
	}
	var sqlJobs int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs").Scan(&sqlJobs); err != nil || sqlJobs != 0 {
		t.Fatalf("%d rows in the SQL jobs table (%v), want 0: the retry goes to redis", sqlJobs, err)
	}
	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"emails"}})
	if len(got) != 1 || got[0].UUID != p.UUID || got[0].Kind != "SendInvoiceEmail" || got[0].Attempts != 1 ||
		got[0].MaxAttempts != 5 || string(got[0].Payload) != string(p.Payload) {
		t.Fatalf("claim after retry = %+v, want the job back with attempts reset and maxTries 5", got)
	}

	// A retry interrupted after the push and before the delete, run again,
	// does not push twice.
	if stale, err := d.JobFailMany(ctx, []*driver.JobFailParams{{ID: got[0].ID, WorkerID: "w", Claim: got[0].ClaimSeq, Exception: "again"}}); err != nil || len(stale) > 0 {
		t.Fatalf("fail: stale %v, %v", stale, err)
	}
	f, err := d.FailedGet(ctx, p.UUID)
	if err != nil || f.Connection != "redis" {
		t.Fatalf("failed job = %+v, %v; want the connection defaulting to the driver's name", f, err)
	}
	interrupted := []insertArgs{{uuid: f.UUID, queue: f.Queue, kind: "SendInvoiceEmail", payload: f.Payload,
		marker: d.key("retried:", fmt.Sprint(f.ID), ":", f.UUID)}}
	if _, err := d.insert(ctx, interrupted); err != nil {
		t.Fatal(err)
	}
	if moved, err := d.FailedRetry(ctx, &driver.FailedRetryParams{All: true}); err != nil || len(moved) != 1 {
		t.Fatalf("retry again = %+v, %v", moved, err)
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"emails"}}); len(got) != 1 {
		t.Fatalf("claim after the interrupted retry = %d jobs, want exactly 1", len(got))
	}
}

func statOf(stats []*driver.QueueStat, queue string) *driver.QueueStat {
	for _, s := range stats {
		if s.Queue == queue {
			return s
		}
	}
	return nil
}

// TestQueueStatsAndClear counts and clears a queue's jobs in Redis.
func TestQueueStatsAndClear(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx := context.Background()
	now, err := d.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	later := testJob("default", "later")
	later.Delay = time.Hour
	keyed := testJob("default", "keyed")
	keyed.UniqueKey = "k"
	old := testJob("default", "old")
	old.AvailableAt = now.Add(-time.Minute)
	mustInsert(t, d, testJob("default", "a"), testJob("default", "b"), later, keyed, old, testJob("emails", "c"))
	mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Max: 1})
	if err := d.QueuePause(ctx, "paused", "test"); err != nil {
		t.Fatal(err)
	}
	stats, err := d.QueueStats(ctx, &driver.QueueStatsParams{Queues: []string{"asked"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range stats {
		names = append(names, s.Queue)
	}
	if !slices.Equal(names, []string{"asked", "default", "emails", "paused"}) {
		t.Fatalf("queues = %v", names)
	}
	def := statOf(stats, "default")
	if def.Pending != 3 || def.Delayed != 1 || def.Reserved != 1 {
		t.Fatalf("default = %+v, want 3 pending, 1 delayed, 1 reserved", def)
	}
	// Sorted-set counts are exact at any size: a count limit does not
	// apply, and the stats say so.
	limited, err := d.QueueStats(ctx, &driver.QueueStatsParams{CountLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l := statOf(limited, "default"); l.Pending != 3 || l.CountLimit != 0 || l.AnyCapped() {
		t.Fatalf("default with a count limit of 1 = %+v, want 3 pending, counted exactly", l)
	}
	if e := statOf(stats, "emails"); e.Pending != 1 || e.OldestWait > 5*time.Second {
		t.Fatalf("emails = %+v", e)
	}
	if !statOf(stats, "paused").Paused {
		t.Fatal("paused queue not reported paused")
	}
	n, err := d.QueueClear(ctx, "default")
	if err != nil || n != 5 {
		t.Fatalf("clear = %d, %v; want 5", n, err)
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Now: now.Add(2 * time.Hour)}); len(got) != 0 {
		t.Fatalf("claim after clear = %v", jobIDs(got))
	}
	if r := mustInsert(t, d, keyed)[0]; r.Skipped {
		t.Fatal("the cleared job still holds its unique key")
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"emails"}}); len(got) != 1 {
		t.Fatalf("clearing default touched emails: %v", jobIDs(got))
	}
}

// TestListen checks that inserts of jobs available now publish their
// queue, delayed ones do not, and Listen returns when ctx ends.
func TestListen(t *testing.T) {
	d, _ := newTestDriver(t)
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan string, 64)
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, func(q string) { events <- q }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen = %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after cancel")
		}
	}()
	// Wait until subscribed: insert until an event arrives.
	deadline := time.Now().Add(10 * time.Second)
	for connected := false; !connected; {
		if time.Now().After(deadline) {
			t.Fatal("no event within 10s")
		}
		mustInsert(t, d, testJob("warmup", "noop"))
		select {
		case q := <-events:
			connected = q == "warmup"
		case <-time.After(100 * time.Millisecond):
		}
	}
	for len(events) > 0 {
		<-events
	}
	delayed := testJob("later", "noop")
	delayed.Delay = time.Hour
	mustInsert(t, d, delayed, testJob("emails", "noop"), testJob("emails", "noop"))
	select {
	case q := <-events:
		if q != "emails" {
			t.Fatalf("event %q, want emails", q)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the insert")
	}
	select {
	case q := <-events:
		t.Fatalf("extra event %q: one per queue and insert, none for a delayed job", q)
	case <-time.After(200 * time.Millisecond):
	}
}
