package dbdriver_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

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
		var chunks []int
		if n, err := adm.FailedPrune(ctx, &driver.FailedPruneParams{OlderThan: 24 * time.Hour, ChunkSize: 2,
			Progress: func(deleted int) { chunks = append(chunks, deleted) }}); err != nil || n != 5 {
			t.Fatalf("FailedPrune = %d, %v, want 5", n, err)
		}
		if !slices.Equal(chunks, []int{2, 4, 5}) {
			t.Fatalf("FailedPrune progress = %v, want the running total after each chunk: [2 4 5]", chunks)
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
