package tripinredis

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type failedRow struct {
	UUID, Connection, Queue, Payload, Exception string
}

func failedRows(t testing.TB, db *sqldb.DB) []failedRow {
	t.Helper()
	rs, err := db.QueryContext(context.Background(), "SELECT uuid, connection, queue, payload, exception FROM failed_jobs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []failedRow
	for rs.Next() {
		var r failedRow
		if err := rs.Scan(&r.UUID, &r.Connection, &r.Queue, &r.Payload, &r.Exception); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// deleteHash deletes a job's hash behind the driver's back, as an
// eviction or an operator's DEL would.
func deleteHash(t testing.TB, d *Driver, id int64) {
	t.Helper()
	if n, err := d.rdb.Del(context.Background(), d.key("job:", strconv.FormatInt(id, 10))).Result(); err != nil || n != 1 {
		t.Fatalf("delete the hash of job %d: %d, %v", id, n, err)
	}
}

func lostLen(t testing.TB, d *Driver) int64 {
	t.Helper()
	n, err := d.rdb.HLen(context.Background(), d.key("lost")).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLostJobsGoToFailedJobs deletes the hashes of a waiting and of a
// running job behind the driver's back. Neither is dropped silently: the
// claim that meets each id logs it at error level, counts it, and writes
// a failed_jobs row that says what happened, once, whatever the number of
// claims; a retry of all failed jobs leaves those rows alone, and a retry
// by id says why. The lost job's unique key no longer blocks its
// successor.
func TestLostJobsGoToFailedJobs(t *testing.T) {
	logs := &syncBuffer{}
	d, db := newTestDriver(t, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ctx := context.Background()
	keyed := testJob("default", "keyed")
	keyed.UniqueKey = "invoice:7"
	res := mustInsert(t, d, keyed, testJob("default", "b"))
	lost, kept := res[0].ID, res[1].ID
	deleteHash(t, d, lost)

	got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, WorkerID: "w1"})
	if len(got) != 1 || got[0].ID != kept {
		t.Fatalf("claim = %v, want only the job that still has its data (%d)", jobIDs(got), kept)
	}
	if stale, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(got)); err != nil || len(stale) > 0 {
		t.Fatalf("complete = %v, %v", stale, err)
	}
	if n := d.LostJobs(); n != 1 {
		t.Fatalf("LostJobs = %d, want 1", n)
	}
	rows := failedRows(t, db)
	if len(rows) != 1 {
		t.Fatalf("failed_jobs = %+v, want one row for the lost job", rows)
	}
	r := rows[0]
	if r.Connection != "redis" || r.Queue != "default" ||
		!strings.Contains(r.Exception, "job "+strconv.FormatInt(lost, 10)+" was lost: the job's data was missing from Redis (evicted or deleted); its id was still queued (waiting, on queue default)") {
		t.Fatalf("failed row = %+v", r)
	}
	var p lostPayload
	if err := json.Unmarshal([]byte(r.Payload), &p); err != nil || !p.Lost || p.UUID != r.UUID || p.Data.ID != lost ||
		p.Data.Queue != "default" || p.Data.State != "waiting" || p.DisplayName != lostDisplayName {
		t.Fatalf("payload = %s (%v)", r.Payload, err)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"queue: jobs lost from redis`) ||
		!strings.Contains(logs.String(), `"ids":["`+strconv.FormatInt(lost, 10)+`"]`) {
		t.Fatalf("log = %s, want an error naming the lost job", logs)
	}
	if _, err := d.rdb.ZScore(ctx, d.key("q:default:pending"), fmtMember(lost)).Result(); err == nil {
		t.Fatal("the lost job's id is still queued")
	}
	if n := lostLen(t, d); n != 0 {
		t.Fatalf("%d entries left in the lost hash after they were recorded", n)
	}

	// The unique key of the lost job holds nothing.
	if r := mustInsert(t, d, keyed)[0]; r.Skipped {
		t.Fatalf("insert with the lost job's unique key = %+v, want inserted", r)
	}

	// A running job whose data goes: found when its lease has ended.
	now, err := d.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, WorkerID: "w2", RetryAfter: time.Minute})
	if len(got) != 1 {
		t.Fatalf("claim = %v, want the new keyed job", jobIDs(got))
	}
	running := got[0].ID
	deleteHash(t, d, running)
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Now: now.Add(2 * time.Minute)}); len(got) != 0 {
		t.Fatalf("claim after the lease = %v, want nothing", jobIDs(got))
	}
	rows = failedRows(t, db)
	if len(rows) != 2 || !strings.Contains(rows[1].Exception, "(running, on queue default)") || d.LostJobs() != 2 {
		t.Fatalf("failed_jobs = %+v, lost %d; want the running job recorded too", rows, d.LostJobs())
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"default"}, Now: now.Add(time.Hour)}); len(got) != 0 || len(failedRows(t, db)) != 2 {
		t.Fatal("a later claim recorded a lost job again")
	}

	// Retrying: all leaves the lost rows; one by id is refused, clearly.
	moved, err := d.FailedRetry(ctx, &driver.FailedRetryParams{All: true})
	if err != nil || len(moved) != 0 {
		t.Fatalf("retry all = %+v, %v; want nothing moved", moved, err)
	}
	if n, err := d.FailedCount(ctx, ""); err != nil || n != 2 {
		t.Fatalf("failed count after retry all = %d, %v; want the 2 lost rows kept", n, err)
	}
	if _, err := d.FailedRetry(ctx, &driver.FailedRetryParams{IDs: []string{rows[0].UUID}}); err == nil ||
		!strings.Contains(err.Error(), "was lost from Redis with its data; there is nothing to retry") {
		t.Fatalf("retry of a lost job = %v, want a refusal saying why", err)
	}
}

// TestLostJobWaitsForItsRow: when failed_jobs cannot be written, the lost
// job stays recorded in Redis and the next claim of any process writes
// its row.
func TestLostJobWaitsForItsRow(t *testing.T) {
	d, db := newTestDriver(t)
	ctx := context.Background()
	id := mustInsert(t, d, testJob("emails", "x"))[0].ID
	deleteHash(t, d, id)
	if _, err := db.ExecContext(ctx, "ALTER TABLE failed_jobs RENAME TO failed_jobs_away"); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, d, driver.JobClaimParams{Queues: []string{"emails"}}); len(got) != 0 {
		t.Fatalf("claim = %v", jobIDs(got))
	}
	if n := lostLen(t, d); n != 1 || d.LostJobs() != 1 {
		t.Fatalf("lost hash holds %d, counted %d; want the job kept for a later write", n, d.LostJobs())
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE failed_jobs_away RENAME TO failed_jobs"); err != nil {
		t.Fatal(err)
	}
	other := newDriverOn(t, d.rdb.(*redis.Client), db, d.prefix)
	if got := mustClaim(t, other, driver.JobClaimParams{Queues: []string{"default"}}); len(got) != 0 {
		t.Fatalf("claim = %v", jobIDs(got))
	}
	rows := failedRows(t, db)
	if len(rows) != 1 || rows[0].Queue != "emails" || !strings.Contains(rows[0].Exception, "job "+strconv.FormatInt(id, 10)+" was lost") {
		t.Fatalf("failed_jobs = %+v, want the lost job's row", rows)
	}
	if n := lostLen(t, d); n != 0 {
		t.Fatalf("lost hash holds %d after the write", n)
	}
	// An entry written twice (its first writer died before deleting it)
	// makes one row.
	for range 2 {
		if _, err := d.rdb.HSet(ctx, d.key("lost"), strconv.FormatInt(id, 10), `{"queue":"emails","state":"waiting","found_at":1}`).Result(); err != nil {
			t.Fatal(err)
		}
		if n, err := d.RecordLostJobs(ctx); err != nil || n != 1 {
			t.Fatalf("record = %d, %v", n, err)
		}
	}
	if rows := failedRows(t, db); len(rows) != 2 {
		t.Fatalf("failed_jobs = %d rows, want the first loss and one row for the entry written twice", len(rows))
	}
}
