package crashtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// redisEnv names the Redis server of the tests that put the queue on it.
const redisEnv = "TRIPIN_TEST_REDIS_URL"

// TestStoppedWorkerLosesItsLease stops worker A with SIGSTOP while it runs
// a job, past the job's lease; worker B takes the job over; A is let go
// with SIGCONT while B still runs the job. A's late outcome must leave B's
// claim exactly as it was, A logs that it lost the lease, B completes the
// job and nothing is failed. It runs on every database backend, and with
// the queue on Redis.
func TestStoppedWorkerLosesItsLease(t *testing.T) {
	// The backends run side by side: the test mostly waits on leases.
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		testStoppedWorker(t, newBackend(t, d))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv(redisEnv)
		if url == "" {
			t.Skipf("%s not set", redisEnv)
		}
		b := newBackend(t, store.SQLite)
		b.redisURL, b.redisPrefix = url, "tripin:crashtest:"+uuid.NewString()[:8]+":"
		t.Cleanup(func() { deleteRedisKeys(t, url, b.redisPrefix) })
		testStoppedWorker(t, b)
	})
}

func testStoppedWorker(t *testing.T, b *backend) {
	// A lease of three seconds: the worker renews it every second and marks
	// a job started after half a second; the job runs six seconds, so that
	// b still holds it when a wakes.
	const lease = 3
	b.run(t, "queue", "push", "sleep", "--args", `{"ms":6000}`, "--tries", "3")
	q := b.queueState(t)
	a := b.startWorker(t, "a", lease, "--concurrency", "1", "--json", "--sleep", "1")
	waitFor(t, time.Minute, "worker a to start the job and renew its lease", []*worker{a}, func() bool {
		st := q.job(t)
		return st.reservedBy != "" && st.marked
	})
	// Stop it just after a renewal, when it holds no transaction.
	time.Sleep(100 * time.Millisecond)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	aClaim := q.job(t)

	bw := b.startWorker(t, "b", lease, "--concurrency", "1", "--json", "--sleep", "1")
	waitFor(t, time.Minute, "worker b to take the job over", []*worker{bw}, func() bool {
		st := q.job(t)
		return st.exists && st.reservedBy != "" && st.reservedBy != aClaim.reservedBy
	})
	if waited := time.Since(stoppedAt); waited < lease*time.Second-time.Second {
		t.Errorf("b took the job %s after a stopped: before a's lease of %ds could end", waited, lease)
	}
	bClaim := q.job(t)
	if bClaim.claim == aClaim.claim {
		t.Fatalf("b's claim has a's claim_seq %d", aClaim.claim)
	}

	// a wakes while b runs the job: its heartbeat renews nothing and its
	// late outcome (the job's sleep has run out, or it was cancelled) must
	// leave b's claim exactly as it is.
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "worker a to report its lost lease", []*worker{a}, func() bool {
		return strings.Contains(b.logs(t, "a"), "lease lost before the outcome was recorded")
	})
	if st := q.job(t); !st.exists || st.reservedBy != bClaim.reservedBy || st.claim != bClaim.claim ||
		st.attempts != bClaim.attempts || st.lastError != "" {
		t.Errorf("b's claim after a's late outcome = %+v, want it unchanged: %+v", st, bClaim)
	}
	waitFor(t, time.Minute, "worker b to complete the job", []*worker{bw}, func() bool { return !q.job(t).exists })
	if f := b.count(t, "SELECT COUNT(*) FROM failed_jobs"); f != 0 {
		t.Errorf("failed_jobs has %d rows, want 0", f)
	}
	var bDone []jobLine
	waitFor(t, time.Minute, "worker b to print the job done", []*worker{bw}, func() bool {
		bDone = bDone[:0]
		for _, l := range bw.lines(t) {
			if l.Status == "done" {
				bDone = append(bDone, l)
			}
		}
		return len(bDone) > 0
	})
	if len(bDone) != 1 || bDone[0].Attempt != 2 {
		t.Errorf("b's done lines = %+v, want one, on attempt 2 (a's started attempt counts)", bDone)
	}
	for _, w := range []*worker{a, bw} {
		if err := w.stop(t, syscall.SIGTERM, time.Minute); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v\nstderr:\n%s", w.name, err, w.stderr())
		}
	}
	if t.Failed() {
		t.Logf("a's output:\n%s", b.logs(t, "a"))
	}
}

// logs returns what worker name printed and logged.
func (b *backend) logs(t *testing.T, name string) string {
	t.Helper()
	var sb strings.Builder
	for _, f := range []string{name + ".out", name + ".err", name + ".log"} {
		data, err := os.ReadFile(filepath.Join(b.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(data)
	}
	return sb.String()
}

// jobState is the one job of a test as its queue holds it.
type jobState struct {
	exists     bool
	reservedBy string
	attempts   int
	claim      int64
	lastError  string
	// marked is true once the holder's heartbeat has marked it started.
	marked bool
}

// queueState reads the single job of a test from where the queue keeps
// it: the jobs table, or Redis.
type queueState struct {
	b   *backend
	rdb *redis.Client
}

func (b *backend) queueState(t *testing.T) *queueState {
	t.Helper()
	q := &queueState{b: b}
	if b.redisURL != "" {
		opts, err := redis.ParseURL(b.redisURL)
		if err != nil {
			t.Fatal(err)
		}
		q.rdb = redis.NewClient(opts)
		t.Cleanup(func() { q.rdb.Close() })
	}
	return q
}

func (q *queueState) job(t *testing.T) jobState {
	t.Helper()
	ctx := context.Background()
	if q.rdb == nil {
		var st jobState
		var by, lastErr *string
		var hb *int64
		err := q.b.db.QueryRowContext(ctx, "SELECT reserved_by, attempts, heartbeat_at, claim_seq, last_error FROM jobs").Scan(&by, &st.attempts, &hb, &st.claim, &lastErr)
		if err != nil {
			if strings.Contains(err.Error(), "no rows") {
				return st
			}
			t.Fatal(err)
		}
		st.exists = true
		if by != nil {
			st.reservedBy = *by
		}
		if lastErr != nil {
			st.lastError = *lastErr
		}
		st.marked = hb != nil && *hb > 0
		return st
	}
	keys, err := q.rdb.Keys(ctx, q.b.redisPrefix+"job:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		return jobState{}
	}
	if len(keys) > 1 {
		t.Fatalf("%d jobs in redis, want at most 1", len(keys))
	}
	v, err := q.rdb.HMGet(ctx, keys[0], "reserved_by", "attempts", "heartbeat_at", "claim_seq", "last_error").Result()
	if err != nil {
		t.Fatal(err)
	}
	st := jobState{exists: true}
	st.reservedBy, _ = v[0].(string)
	if a, ok := v[1].(string); ok {
		st.attempts, _ = strconv.Atoi(a)
	}
	if hb, ok := v[2].(string); ok {
		n, _ := strconv.ParseInt(hb, 10, 64)
		st.marked = n > 0
	}
	if c, ok := v[3].(string); ok {
		st.claim, _ = strconv.ParseInt(c, 10, 64)
	}
	st.lastError, _ = v[4].(string)
	return st
}

// deleteRedisKeys removes every key under prefix.
func deleteRedisKeys(t *testing.T, url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Error(fmt.Errorf("clean redis keys: %w", err))
	}
}
