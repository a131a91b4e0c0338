package dbdriver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

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
