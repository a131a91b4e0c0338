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

// TestQueueStatsCountLimit: counts stop at the limit (one more than it,
// read as "more than the limit"), below it they are exact, every queue
// with jobs is found however its jobs are spread over the states, and a
// negative limit counts everything.
func TestQueueStatsCountLimit(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		db, adm := setup(t, d)
		ctx := context.Background()
		for range 8 {
			insertJob(t, db, "big", -10, false)
		}
		for range 7 {
			insertJob(t, db, "big", 3600, false)
		}
		for range 6 {
			insertJob(t, db, "big", -20, true)
		}
		// Queues sorted before, between and after, each with jobs of one
		// state only, so that finding them takes both indexes.
		insertJob(t, db, "a-reserved", 0, true)
		insertJob(t, db, "c-delayed", 600, false)
		insertJob(t, db, "c-delayed", 600, false)
		insertJob(t, db, "z-pending", -3, false)
		insertJob(t, db, "z-pending", -3, false)
		insertJob(t, db, "z-pending", -3, false)
		insertJob(t, db, "z-pending", -3, false)
		insertJob(t, db, "z-pending", -3, false)

		type want struct{ pending, delayed, reserved int }
		check := func(limit, wantLimit int, wants map[string]want, capped map[string]bool) {
			t.Helper()
			stats, err := adm.QueueStats(ctx, &driver.QueueStatsParams{CountLimit: limit})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]*driver.QueueStat{}
			for _, s := range stats {
				got[s.Queue] = s
			}
			if len(got) != len(wants) {
				t.Errorf("limit %d: queues %v, want %d of them", limit, stats, len(wants))
			}
			for q, w := range wants {
				s := got[q]
				if s == nil {
					t.Errorf("limit %d: queue %s missing", limit, q)
					continue
				}
				if s.Pending != w.pending || s.Delayed != w.delayed || s.Reserved != w.reserved || s.CountLimit != wantLimit {
					t.Errorf("limit %d: %s = %+v, want %+v and count limit %d", limit, q, *s, w, wantLimit)
				}
				if s.AnyCapped() != capped[q] {
					t.Errorf("limit %d: %s capped = %v, want %v", limit, q, s.AnyCapped(), capped[q])
				}
			}
		}
		exact := map[string]want{
			"big": {8, 7, 6}, "a-reserved": {0, 0, 1}, "c-delayed": {0, 2, 0}, "z-pending": {5, 0, 0},
		}
		check(-1, 0, exact, nil)
		check(0, driver.DefaultCountLimit, exact, nil)
		check(5, 5, map[string]want{
			"big": {6, 6, 6}, "a-reserved": {0, 0, 1}, "c-delayed": {0, 2, 0}, "z-pending": {5, 0, 0},
		}, map[string]bool{"big": true})
		check(7, 7, map[string]want{
			"big": {8, 7, 6}, "a-reserved": {0, 0, 1}, "c-delayed": {0, 2, 0}, "z-pending": {5, 0, 0},
		}, map[string]bool{"big": true})
		if s := (&driver.QueueStat{CountLimit: 7, Pending: 8, Delayed: 7}); !s.Capped(s.Pending) || s.Capped(s.Delayed) {
			t.Errorf("Capped: 8 over a limit of 7 is capped, 7 is not")
		}
	})
}
