package dbdriver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// The rows below are written with plain SQL so that the admin methods are
// tested against the schema itself, whichever dialect drivers exist.

func unixNow(t *testing.T, db *sqldb.DB) int64 {
	t.Helper()
	now, err := db.Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return now.Unix()
}

func insertJob(t *testing.T, db *sqldb.DB, queue string, availableIn int64, reserved bool) {
	t.Helper()
	now := unixNow(t, db)
	var reservedAt any
	if reserved {
		reservedAt = now
	}
	id := uuid.NewString()
	payload := fmt.Sprintf(`{"uuid":%q,"displayName":"noop","job":"noop","maxTries":null,"data":{}}`, id)
	_, err := db.ExecContext(context.Background(), db.Rebind(`INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at, uuid, kind, max_attempts)
VALUES (?, ?, 0, ?, ?, ?, ?, 'noop', 1)`), queue, payload, reservedAt, now+availableIn, now, id)
	if err != nil {
		t.Fatalf("insert job: %v", err)
	}
}

func insertFailed(t *testing.T, db *sqldb.DB, queue, kind string, failedAt time.Time, batchID string) string {
	t.Helper()
	id := uuid.NewString()
	payload := fmt.Sprintf(`{"uuid":%q,"displayName":%q,"job":%q,"maxTries":3,"data":{"n":1}`, id, kind, kind)
	if batchID != "" {
		payload += fmt.Sprintf(`,"batchId":%q`, batchID)
	}
	payload += "}"
	var at any = failedAt.UTC()
	if db.Dialect == sqldb.SQLite {
		at = failedAt.UTC().Format(time.DateTime)
	}
	_, err := db.ExecContext(context.Background(), db.Rebind(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (?, 'database', ?, ?, 'boom\ncaused by *errors.errorString: boom', ?)`), id, queue, payload, at)
	if err != nil {
		t.Fatalf("insert failed job: %v", err)
	}
	return id
}

func count(t *testing.T, db *sqldb.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), db.Rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func setup(t *testing.T, d sqldb.Dialect) (*sqldb.DB, driver.Admin) {
	db := queuetest.OpenDB(t, d)
	return db, dbdriver.NewAdmin(db)
}

func TestFailedJobs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		now, _ := db.Now(ctx)
		old := insertFailed(t, db, "emails", "SendInvoiceEmail", now.Add(-10*24*time.Hour), "")
		mid := insertFailed(t, db, "default", "ExpireBooking", now.Add(-2*time.Hour), "")
		recent := insertFailed(t, db, "emails", "SendETicketEmail", now.Add(-time.Minute), "batch-1")

		all, err := adm.FailedList(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].UUID != recent || all[1].UUID != mid || all[2].UUID != old {
			t.Fatalf("FailedList = %v, want newest first", uuids(all))
		}
		if all[0].Connection != "database" || all[0].Queue != "emails" || all[0].Exception == "" {
			t.Errorf("row = %+v", all[0])
		}
		if d := all[1].FailedAt.Sub(now.Add(-2 * time.Hour)); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("failed_at = %v, want about %v", all[1].FailedAt, now.Add(-2*time.Hour))
		}
		emails, err := adm.FailedList(ctx, &driver.FailedListParams{Queue: "emails", Limit: 1, Offset: 1})
		if err != nil || len(emails) != 1 || emails[0].UUID != old {
			t.Fatalf("FailedList(emails, limit 1 offset 1) = %v, %v", uuids(emails), err)
		}
		if n, _ := adm.FailedCount(ctx, "emails"); n != 2 {
			t.Errorf("FailedCount(emails) = %d, want 2", n)
		}

		byID, err := adm.FailedGet(ctx, strconv.FormatInt(all[1].ID, 10))
		if err != nil || byID.UUID != mid {
			t.Fatalf("FailedGet(id) = %v, %v", byID, err)
		}
		if _, err := adm.FailedGet(ctx, "no-such"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("FailedGet(missing) error = %v, want ErrNotFound", err)
		}

		// Retry by uuid: the job is back on its queue, attempts reset,
		// max_attempts and batch from the payload, the failed row gone.
		moved, err := adm.FailedRetry(ctx, &driver.FailedRetryParams{IDs: []string{recent}})
		if err != nil || len(moved) != 1 {
			t.Fatalf("FailedRetry = %v, %v", moved, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM jobs WHERE uuid = ? AND queue = 'emails' AND attempts = 0 AND max_attempts = 3 AND kind = 'SendETicketEmail' AND batch_id = 'batch-1' AND reserved_at IS NULL", recent); n != 1 {
			t.Fatalf("retried job rows = %d, want 1", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM failed_jobs WHERE uuid = ?", recent); n != 0 {
			t.Fatalf("failed row still there")
		}
		// Retry all of a queue.
		moved, err = adm.FailedRetry(ctx, &driver.FailedRetryParams{All: true, Queue: "default"})
		if err != nil || len(moved) != 1 || moved[0].UUID != mid {
			t.Fatalf("FailedRetry(all, default) = %v, %v", moved, err)
		}
		if _, err := adm.FailedRetry(ctx, &driver.FailedRetryParams{}); err == nil {
			t.Fatal("FailedRetry with no ids: want an error")
		}

		// Forget, flush with hours, prune in chunks.
		if n, err := adm.FailedForget(ctx, []string{old}); err != nil || n != 1 {
			t.Fatalf("FailedForget = %d, %v", n, err)
		}
		for range 5 {
			insertFailed(t, db, "emails", "x", now.Add(-48*time.Hour), "")
		}
		insertFailed(t, db, "emails", "x", now.Add(-time.Hour), "")
		if n, err := adm.FailedPrune(ctx, &driver.FailedPruneParams{OlderThan: 24 * time.Hour, ChunkSize: 2}); err != nil || n != 5 {
			t.Fatalf("FailedPrune = %d, %v, want 5", n, err)
		}
		insertFailed(t, db, "emails", "x", now.Add(-3*time.Hour), "")
		if n, err := adm.FailedFlush(ctx, &driver.FailedFlushParams{OlderThan: 2 * time.Hour}); err != nil || n != 1 {
			t.Fatalf("FailedFlush(2h) = %d, %v, want 1", n, err)
		}
		if n, err := adm.FailedFlush(ctx, nil); err != nil || n != 1 {
			t.Fatalf("FailedFlush(all) = %d, %v, want 1", n, err)
		}
	})
}

func uuids(fs []*driver.FailedJob) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.UUID)
	}
	return out
}

func TestQueueStatsAndPause(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		insertJob(t, db, "emails", -30, false)
		insertJob(t, db, "emails", 0, false)
		insertJob(t, db, "emails", 600, false)
		insertJob(t, db, "emails", -5, true)
		insertJob(t, db, "default", 60, false)
		now, _ := db.Now(ctx)
		insertFailed(t, db, "emails", "x", now, "")
		if err := adm.QueuePause(ctx, "reports", "test"); err != nil {
			t.Fatal(err)
		}
		if err := adm.QueuePause(ctx, "reports", "again"); err != nil {
			t.Fatalf("pausing twice: %v", err)
		}
		stats, err := adm.QueueStats(ctx, &driver.QueueStatsParams{Queues: []string{"empty"}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]driver.QueueStat{}
		for _, s := range stats {
			got[s.Queue] = *s
		}
		e := got["emails"]
		if e.Pending != 2 || e.Delayed != 1 || e.Reserved != 1 || e.Failed != 1 || e.Size() != 4 || e.Paused {
			t.Errorf("emails = %+v", e)
		}
		if e.OldestWait < 29*time.Second || e.OldestWait > 40*time.Second {
			t.Errorf("emails oldest wait = %v, want about 30s", e.OldestWait)
		}
		if g := got["default"]; g.Delayed != 1 || g.Pending != 0 || g.OldestWait != 0 {
			t.Errorf("default = %+v", g)
		}
		if g, ok := got["empty"]; !ok || g.Size() != 0 {
			t.Errorf("empty = %+v, %v", g, ok)
		}
		if !got["reports"].Paused {
			t.Errorf("reports not reported paused")
		}
		ps, err := adm.QueuePausedList(ctx)
		if err != nil || len(ps) != 1 || ps[0].Queue != "reports" || ps[0].PausedBy != "test" {
			t.Fatalf("QueuePausedList = %+v, %v", ps, err)
		}
		if err := adm.QueueResume(ctx, "reports"); err != nil {
			t.Fatal(err)
		}
		if ps, _ := adm.QueuePausedList(ctx); len(ps) != 0 {
			t.Fatalf("still paused after resume: %+v", ps)
		}
		if n, err := adm.QueueClear(ctx, "emails"); err != nil || n != 4 {
			t.Fatalf("QueueClear = %d, %v, want 4", n, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM jobs"); n != 1 {
			t.Fatalf("%d jobs left, want 1", n)
		}
	})
}

func TestBatches(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		bt, err := adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: uuid.NewString(), Name: "invoices", TotalJobs: 20, Options: []byte(`{"allowFailures":true}`)})
		if err != nil {
			t.Fatal(err)
		}
		if bt.PendingJobs != 20 || bt.TotalJobs != 20 || bt.Name != "invoices" || len(bt.FailedJobIDs) != 0 || string(bt.Options) != `{"allowFailures":true}` || bt.Finished() {
			t.Fatalf("created = %+v", bt)
		}
		// 20 concurrent outcomes, 3 failures: every counter transition is
		// seen by exactly one caller.
		var (
			mu          sync.Mutex
			zeroPending int
			firstFail   int
			allRan      int
			wg          sync.WaitGroup
		)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := adm.BatchRecordOutcome(ctx, &driver.BatchRecordOutcomeParams{BatchID: bt.ID, JobUUID: fmt.Sprint("job-", i), Failed: i < 3})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				a := out.Batch
				if a.PendingJobs == 0 && out.Before.PendingJobs > 0 {
					zeroPending++
				}
				if a.FailedJobs == 1 && out.Before.FailedJobs == 0 {
					firstFail++
				}
				if a.PendingJobs-a.FailedJobs == 0 && out.Before.PendingJobs-out.Before.FailedJobs > 0 {
					allRan++
				}
			}()
		}
		wg.Wait()
		if zeroPending != 0 || firstFail != 1 || allRan != 1 {
			t.Fatalf("transitions: pending→0 %d, first failure %d, all ran %d; want 0, 1, 1", zeroPending, firstFail, allRan)
		}
		got, err := adm.BatchGet(ctx, bt.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PendingJobs != 3 || got.FailedJobs != 3 || len(got.FailedJobIDs) != 3 || got.Progress() != 85 || got.Cancelled() {
			t.Fatalf("batch = %+v", got)
		}
		// Recording an outcome again (the job ran again after its worker
		// died before deleting it) changes nothing and runs no Then; a
		// job that failed and fails again counts once; a job that
		// succeeded and then fails keeps its success.
		for _, rec := range []struct {
			uuid   string
			failed bool
		}{{"job-5", false}, {"job-1", true}, {"job-6", true}} {
			out, err := adm.BatchRecordOutcome(ctx, &driver.BatchRecordOutcomeParams{BatchID: bt.ID, JobUUID: rec.uuid, Failed: rec.failed,
				Then: func(context.Context, *sql.Tx, *driver.BatchOutcome) error {
					return errors.New("then ran for a repeated outcome")
				}})
			if err != nil || out.Recorded || out.Batch.PendingJobs != 3 || out.Batch.FailedJobs != 3 {
				t.Fatalf("repeated outcome %+v = %+v, %v; want no change", rec, out, err)
			}
		}
		// Then runs in the transaction that moves the counters: its error
		// undoes the move.
		boom := errors.New("callback insert failed")
		if _, err := adm.BatchRecordOutcome(ctx, &driver.BatchRecordOutcomeParams{BatchID: bt.ID, JobUUID: "job-1",
			Then: func(context.Context, *sql.Tx, *driver.BatchOutcome) error { return boom }}); !errors.Is(err, boom) {
			t.Fatalf("record with a failing Then = %v, want %v", err, boom)
		}
		if got, err := adm.BatchGet(ctx, bt.ID); err != nil || got.PendingJobs != 3 || len(got.FailedJobIDs) != 3 {
			t.Fatalf("after a failing Then: %+v, %v; want the counters unchanged", got, err)
		}
		// A failed job retried and now successful leaves failed_job_ids.
		out, err := adm.BatchRecordOutcome(ctx, &driver.BatchRecordOutcomeParams{BatchID: bt.ID, JobUUID: "job-0"})
		if err != nil || len(out.Batch.FailedJobIDs) != 2 || out.Batch.PendingJobs != 2 {
			t.Fatalf("after a retried success: %+v, %v", out, err)
		}

		// A batch that allows no failures is cancelled by its first one.
		strict, err := adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: uuid.NewString(), Name: "strict", TotalJobs: 2})
		if err != nil {
			t.Fatal(err)
		}
		out, err = adm.BatchRecordOutcome(ctx, &driver.BatchRecordOutcomeParams{BatchID: strict.ID, JobUUID: "a", Failed: true, CancelOnFailure: true})
		if err != nil || !out.Batch.Cancelled() || !out.Batch.Finished() {
			t.Fatalf("strict after failure = %+v, %v", out, err)
		}
		if _, err := adm.BatchGet(ctx, "missing"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("BatchGet(missing) = %v, want ErrNotFound", err)
		}

		// Finishing: the last success sets finished_at; cancel is kept once.
		done, _ := adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: uuid.NewString(), Name: "one", TotalJobs: 1})
		out, err = adm.BatchRecordOutcome(ctx, &driver.BatchRecordOutcomeParams{BatchID: done.ID, JobUUID: "x"})
		if err != nil || !out.Batch.Finished() || out.Batch.PendingJobs != 0 {
			t.Fatalf("finished = %+v, %v", out, err)
		}
		c, err := adm.BatchCancel(ctx, bt.ID)
		if err != nil || !c.Cancelled() {
			t.Fatalf("cancel = %+v, %v", c, err)
		}
		list, err := adm.BatchList(ctx, &driver.BatchListParams{Limit: 10})
		if err != nil || len(list) != 3 {
			t.Fatalf("BatchList = %d, %v", len(list), err)
		}
		// Prune: every finished batch (0 = no age) goes; none unfinished.
		if _, err := db.ExecContext(ctx, db.Rebind("UPDATE job_batches SET finished_at = finished_at - 7200, cancelled_at = cancelled_at - 7200")); err != nil {
			t.Fatal(err)
		}
		n, err := adm.BatchPrune(ctx, &driver.BatchPruneParams{OlderThan: time.Hour})
		if err != nil || n != 3 {
			t.Fatalf("BatchPrune = %d, %v, want 3", n, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM job_batch_outcomes"); n != 0 {
			t.Fatalf("%d job outcomes left after their batches were pruned", n)
		}
	})
}

func TestLocksAndRateLimits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		ok, err := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "a", TTL: time.Minute})
		if err != nil || !ok {
			t.Fatalf("first acquire = %v, %v", ok, err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "b", TTL: time.Minute}); ok {
			t.Fatal("b took a's lock")
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "a", TTL: time.Minute}); !ok {
			t.Fatal("a could not take its own lock again")
		}
		if owner, held, err := adm.LockOwner(ctx, "k"); err != nil || !held || owner != "a" {
			t.Fatalf("LockOwner = %q, %v, %v; want a", owner, held, err)
		}
		if _, held, err := adm.LockOwner(ctx, "nobody"); err != nil || held {
			t.Fatalf("LockOwner of a free lock = %v, %v", held, err)
		}
		if err := adm.LockRelease(ctx, "k", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "b", TTL: time.Minute}); ok {
			t.Fatal("b's release freed a's lock")
		}
		if err := adm.LockRelease(ctx, "k", "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "b", TTL: time.Minute}); !ok {
			t.Fatal("b could not take the released lock")
		}
		// An expired lock is taken over.
		if _, err := db.ExecContext(ctx, "UPDATE cache_locks SET expiration = 1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := adm.LockAcquire(ctx, &driver.LockAcquireParams{Key: "k", Owner: "c", TTL: time.Minute}); !ok {
			t.Fatal("c could not take the expired lock")
		}

		// 3 per hour, 10 concurrent hits: exactly 3 allowed.
		var allowed, denied int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: "smtp", Limit: 3, Period: time.Hour})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if r.Allowed {
					allowed++
				} else {
					denied++
					if r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
						t.Errorf("retry after = %v", r.RetryAfter)
					}
				}
			}()
		}
		wg.Wait()
		if allowed != 3 || denied != 7 {
			t.Fatalf("allowed %d denied %d, want 3 and 7", allowed, denied)
		}
		// A new window starts afresh.
		if _, err := db.ExecContext(ctx, "UPDATE queue_rate_limits SET window_start = window_start - 3600"); err != nil {
			t.Fatal(err)
		}
		if r, _ := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: "smtp", Limit: 3, Period: time.Hour}); r == nil || !r.Allowed || r.Remaining != 2 {
			t.Fatalf("new window = %+v", r)
		}
	})
}

func TestMetricsAndHistory(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		now, _ := db.Now(ctx)
		minute := now.Truncate(time.Minute)
		pts := []*driver.JobMetric{
			{Queue: "emails", Minute: minute.Add(5 * time.Second), Processed: 2, RuntimeMS: 300, MaxWaitMS: 40},
			{Queue: "emails", Minute: minute, Processed: 1, Failed: 1, RuntimeMS: 100, MaxWaitMS: 90},
			{Queue: "default", Minute: minute.Add(-2 * time.Hour), Processed: 1},
		}
		if err := adm.JobMetricsRecord(ctx, pts); err != nil {
			t.Fatal(err)
		}
		if err := adm.JobMetricsRecord(ctx, []*driver.JobMetric{{Queue: "emails", Minute: minute, Processed: 1, MaxWaitMS: 10}}); err != nil {
			t.Fatal(err)
		}
		got, err := adm.JobMetricsList(ctx, &driver.JobMetricsListParams{Since: minute.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("metrics = %+v, want one point", got)
		}
		m := got[0]
		if m.Queue != "emails" || !m.Minute.Equal(minute) || m.Processed != 4 || m.Failed != 1 || m.RuntimeMS != 400 || m.MaxWaitMS != 90 {
			t.Fatalf("point = %+v", m)
		}
		if n, err := adm.JobMetricsPrune(ctx, time.Hour); err != nil || n != 1 {
			t.Fatalf("JobMetricsPrune = %d, %v", n, err)
		}
		err = adm.CompletedRecord(ctx, []*driver.CompletedJob{
			{UUID: uuid.NewString(), Queue: "emails", Kind: "noop", Attempts: 1, RuntimeMS: 5},
			{UUID: uuid.NewString(), Queue: "emails", Kind: "noop", Attempts: 2, CompletedAt: now.Add(-48 * time.Hour)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := adm.CompletedPrune(ctx, 24*time.Hour); err != nil || n != 1 {
			t.Fatalf("CompletedPrune = %d, %v", n, err)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM completed_jobs"); n != 1 {
			t.Fatalf("%d history rows, want 1", n)
		}
	})
}

// TestSeedSQLVerbatimOnMariaDB runs the seed document's monitoring SQL,
// character for character, against our schema on MySQL/MariaDB.
func TestSeedSQLVerbatimOnMariaDB(t *testing.T) {
	db := queuetest.OpenDB(t, sqldb.MySQL)
	ctx := context.Background()
	now, err := db.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertJob(t, db, "emails", 0, false)
	insertJob(t, db, "default", 60, false)
	stale := insertFailed(t, db, "emails", "SendInvoiceEmail", now.Add(-10*24*time.Hour), "")
	fresh := insertFailed(t, db, "emails", "SendETicketEmail", now.Add(-time.Hour), "")

	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs;").Scan(&n); err != nil || n != 2 {
		t.Fatalf("SELECT COUNT(*) FROM jobs; = %d, %v, want 2", n, err)
	}

	rows, err := db.QueryContext(ctx, "SELECT * FROM failed_jobs ORDER BY failed_at DESC;")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	if strings.Join(cols, ",") != "id,uuid,connection,queue,payload,exception,failed_at" {
		t.Errorf("failed_jobs columns = %v, want Laravel's", cols)
	}
	var order []string
	for rows.Next() {
		var (
			id                             int64
			u, conn, q, payload, exception string
			failedAt                       time.Time
		)
		if err := rows.Scan(&id, &u, &conn, &q, &payload, &exception, &failedAt); err != nil {
			t.Fatal(err)
		}
		order = append(order, u)
	}
	rows.Close()
	if len(order) != 2 || order[0] != fresh || order[1] != stale {
		t.Fatalf("ORDER BY failed_at DESC = %v, want [%s %s]", order, fresh, stale)
	}

	res, err := db.ExecContext(ctx, "DELETE FROM failed_jobs WHERE failed_at < DATE_SUB(NOW(), INTERVAL 7 DAY);")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := res.RowsAffected(); got != 1 {
		t.Fatalf("DELETE … INTERVAL 7 DAY removed %d rows, want 1 (the 10-day-old one)", got)
	}
	if c := count(t, db, "SELECT COUNT(*) FROM failed_jobs WHERE uuid = ?", fresh); c != 1 {
		t.Fatal("the recent failed job was deleted")
	}
}

// TestRateLimitPrune: a hit gives its row the end of its window; the prune
// deletes the rows of windows that ended more than OlderThan ago, keeps the
// others (and rows with no end), and a key whose row went starts afresh.
func TestRateLimitPrune(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		hit := func(key string, period time.Duration) *driver.RateLimitResult {
			t.Helper()
			r, err := adm.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: key, Limit: 2, Period: period})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		for _, k := range []string{"old", "recent", "current"} {
			hit(k, time.Minute)
			hit(k, time.Minute)
		}
		now, err := db.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var end int64
		if err := db.QueryRowContext(ctx, "SELECT expires_at FROM queue_rate_limits WHERE name = 'current'").Scan(&end); err != nil {
			t.Fatal(err)
		}
		if end <= now.Unix()-1 || end > now.Unix()+61 {
			t.Fatalf("expires_at = %d, want the end of the current minute after %d", end, now.Unix())
		}
		// Windows that ended 2 hours and 10 minutes ago, and a legacy row.
		for key, shift := range map[string]int{"old": 7200 + 60, "recent": 600 + 60} {
			if _, err := db.ExecContext(ctx, db.Rebind("UPDATE queue_rate_limits SET window_start = window_start - ?, expires_at = expires_at - ? WHERE name = ?"), shift, shift, key); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO queue_rate_limits (name, window_start, hits) VALUES ('legacy', 0, 5)"); err != nil {
			t.Fatal(err)
		}
		pr := adm.(driver.RateLimitPruner)
		n, err := pr.RateLimitPrune(ctx, &driver.PruneChunksParams{OlderThan: time.Hour, ChunkSize: 1})
		if err != nil || n != 1 {
			t.Fatalf("prune = %d, %v; want 1 row", n, err)
		}
		names := func() []string {
			rows, err := db.QueryContext(ctx, "SELECT name FROM queue_rate_limits ORDER BY name")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var s string
				rows.Scan(&s)
				out = append(out, s)
			}
			return out
		}
		if got := fmt.Sprint(names()); got != "[current legacy recent]" {
			t.Fatalf("rows left = %s", got)
		}
		// The window still running is not pruned even with no grace, and
		// still denies.
		if n, err := pr.RateLimitPrune(ctx, &driver.PruneChunksParams{ChunkSize: 1}); err != nil || n != 1 {
			t.Fatalf("prune with no grace = %d, %v; want 1 (recent)", n, err)
		}
		if got := fmt.Sprint(names()); got != "[current legacy]" {
			t.Fatalf("rows left = %s", got)
		}
		if r := hit("current", time.Minute); r.Allowed {
			// The minute may have just turned; then a new window allows it.
			now2, _ := db.Now(ctx)
			if now2.Unix()/60 == now.Unix()/60 {
				t.Fatal("the current window was reset")
			}
		}
		// A pruned key starts a new window.
		if r := hit("old", time.Minute); !r.Allowed || r.Remaining != 1 {
			t.Fatalf("pruned key = %+v", r)
		}
	})
}
