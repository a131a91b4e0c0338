package dbdriver_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

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
