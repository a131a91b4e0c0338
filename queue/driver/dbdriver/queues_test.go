package dbdriver_test

import (
	"context"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

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
