package drivertest

import (
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// testJobClassMetrics: points of the same job class, queue and minute add
// up (counters, sums, buckets; the maximum wait is the larger), a list
// returns them oldest first, a rollup turns the minutes of hours past its
// age into one hour per class and queue whose buckets still give the p95,
// minutes that come late for an hour already rolled up are added to it,
// and a prune deletes minutes and hours past its age.
func testJobClassMetrics(t *testing.T, h *harness) {
	m, ok := h.d.(driver.Metrics)
	if !ok {
		t.Skip("drivertest: the driver keeps no metrics")
	}
	now, err := h.d.Now(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	hour := now.Add(-48 * time.Hour).Truncate(time.Hour)
	point := func(kind string, at time.Time, processed, failed int, runtime time.Duration, waitMS int64) *driver.JobClassMetric {
		p := &driver.JobClassMetric{Kind: kind, Queue: "emails", Start: at, Processed: processed, Failed: failed, WaitMS: waitMS, MaxWaitMS: waitMS}
		for range processed + failed {
			p.RuntimeUS += runtime.Microseconds()
			p.Runtime.Observe(runtime)
		}
		return p
	}
	record := func(points ...*driver.JobClassMetric) {
		t.Helper()
		if err := m.JobClassMetricsRecord(h.ctx, points); err != nil {
			t.Fatal(err)
		}
	}
	// Hour one: 19 fast invoices and one slow one over two minutes, in
	// two flushes; hour two: one e-ticket. One invoice minute is recent.
	record(point("SendInvoice", hour.Add(time.Minute), 10, 0, 3*time.Millisecond, 5), point("SendETicket", hour.Add(time.Hour+30*time.Second), 1, 0, time.Second, 0))
	record(point("SendInvoice", hour.Add(time.Minute+20*time.Second), 9, 0, 3*time.Millisecond, 40), point("SendInvoice", hour.Add(59*time.Minute), 0, 1, 400*time.Millisecond, 7))
	record(point("SendInvoice", now.Add(-time.Hour), 2, 0, time.Millisecond, 1))

	list := func(p *driver.JobClassMetricsListParams) []*driver.JobClassMetric {
		t.Helper()
		got, err := m.JobClassMetricsList(h.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := list(&driver.JobClassMetricsListParams{Since: hour, Kind: "SendInvoice"})
	if len(got) != 3 {
		t.Fatalf("listed %d invoice points, want 3: %+v", len(got), got)
	}
	first := got[0]
	if !first.Start.Equal(hour.Add(time.Minute)) || first.Span != time.Minute || first.Queue != "emails" {
		t.Fatalf("first point %+v, want the minute %v of emails", first, hour.Add(time.Minute))
	}
	if first.Processed != 19 || first.RuntimeUS != 19*3000 || first.WaitMS != 45 || first.MaxWaitMS != 40 || first.Runtime.Count() != 19 {
		t.Fatalf("two flushes of one minute did not add up: %+v", first)
	}
	if n := len(list(&driver.JobClassMetricsListParams{Since: now.Add(-2 * time.Hour)})); n != 1 {
		t.Fatalf("listed %d points since two hours ago, want 1", n)
	}

	rolled, err := m.JobClassMetricsRollup(h.ctx, &driver.JobClassMetricsRollupParams{OlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rolled != 3 {
		t.Fatalf("rolled up %d minutes, want 3", rolled)
	}
	got = list(&driver.JobClassMetricsListParams{Since: hour})
	if len(got) != 3 {
		t.Fatalf("after the rollup, %d points, want 3 (two hours and the recent minute): %+v", len(got), got)
	}
	inv := got[0]
	if inv.Kind != "SendInvoice" || !inv.Start.Equal(hour) || inv.Span != time.Hour {
		t.Fatalf("first point after the rollup %+v, want the invoice hour %v", inv, hour)
	}
	if inv.Processed != 19 || inv.Failed != 1 || inv.WaitMS != 52 || inv.MaxWaitMS != 40 || inv.RuntimeUS != 19*3000+400_000 {
		t.Fatalf("the hour does not add up its minutes: %+v", inv)
	}
	if p95 := inv.Runtime.Quantile(0.95); p95 < 2500*time.Microsecond || p95 > 5*time.Millisecond {
		t.Fatalf("p95 of the hour %v, want within the 2.5-5 ms bucket", p95)
	}
	if p100 := inv.Runtime.Quantile(1); p100 < 250*time.Millisecond || p100 > 500*time.Millisecond {
		t.Fatalf("maximum of the hour %v, want within the 250-500 ms bucket", p100)
	}
	if got[1].Kind != "SendETicket" || got[1].Span != time.Hour || got[2].Span != time.Minute {
		t.Fatalf("after the rollup: %+v, %+v", got[1], got[2])
	}

	// A minute of an hour already rolled up, written late, joins it.
	record(point("SendInvoice", hour.Add(5*time.Minute), 1, 0, 3*time.Millisecond, 90))
	if rolled, err = m.JobClassMetricsRollup(h.ctx, &driver.JobClassMetricsRollupParams{OlderThan: 24 * time.Hour}); err != nil || rolled != 1 {
		t.Fatalf("second rollup: %d minutes, %v; want 1", rolled, err)
	}
	got = list(&driver.JobClassMetricsListParams{Since: hour, Kind: "SendInvoice"})
	if len(got) != 2 || got[0].Processed != 20 || got[0].MaxWaitMS != 90 || got[0].Runtime.Count() != 21 {
		t.Fatalf("the late minute did not join its hour: %+v", got)
	}

	pruned, err := m.JobClassMetricsPrune(h.ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if pruned != 2 {
		t.Fatalf("pruned %d points, want the 2 hours", pruned)
	}
	if got = list(nil); len(got) != 1 || got[0].Span != time.Minute {
		t.Fatalf("after the prune: %+v, want the recent minute", got)
	}
}
