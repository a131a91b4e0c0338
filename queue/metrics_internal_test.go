package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// discardMetrics is a driver.Metrics that keeps nothing.
type discardMetrics struct{ driver.Metrics }

func (discardMetrics) JobMetricsRecord(context.Context, []*driver.JobMetric) error { return nil }
func (discardMetrics) JobClassMetricsRecord(context.Context, []*driver.JobClassMetric) error {
	return nil
}
func (discardMetrics) CompletedRecord(context.Context, []*driver.CompletedJob) error { return nil }

// BenchmarkRecorderRecord is the CPU a worker spends on the metrics of one
// finished job, from 8 goroutines at once, over 10 job classes on 3
// queues: the whole per-job cost of recording, which the flush, once per
// interval, adds nothing to per job.
func BenchmarkRecorderRecord(b *testing.B) {
	r := newRecorder(discardMetrics{}, slog.New(slog.DiscardHandler), time.Hour, true, false, nil, 0)
	defer r.close(context.Background())
	now := time.Now()
	rows := make([]*driver.JobRow, 30)
	for i := range rows {
		rows[i] = &driver.JobRow{Queue: fmt.Sprint("q", i%3), Kind: fmt.Sprint("Job", i%10), ReservedAt: now, AvailableAt: now.Add(-time.Second)}
	}
	o := Outcome{Status: OutcomeSucceeded, Runtime: 3 * time.Millisecond}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.record(rows[i%len(rows)], o)
			i++
		}
	})
}

// flakyMetrics fails its first writes, then keeps what it is given.
type flakyMetrics struct {
	discardMetrics
	fail    int
	queues  []*driver.JobMetric
	classes []*driver.JobClassMetric
}

func (f *flakyMetrics) JobMetricsRecord(_ context.Context, p []*driver.JobMetric) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("database down")
	}
	f.queues = append(f.queues, p...)
	return nil
}

func (f *flakyMetrics) JobClassMetricsRecord(_ context.Context, p []*driver.JobClassMetric) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("database down")
	}
	f.classes = append(f.classes, p...)
	return nil
}

// TestRecorderKeepsWhatAFlushCouldNotWrite: the per-queue points are the
// sums of the class points, and a flush that fails loses nothing and
// counts nothing twice when the next one writes it.
func TestRecorderKeepsWhatAFlushCouldNotWrite(t *testing.T) {
	store := &flakyMetrics{fail: 1} // the per-queue write fails once
	r := newRecorder(store, slog.New(slog.DiscardHandler), time.Hour, true, false, nil, 0)
	defer r.close(context.Background())
	now := time.Now()
	job := func(kind, queue string, runtime time.Duration, status OutcomeStatus) {
		r.record(&driver.JobRow{Kind: kind, Queue: queue, ReservedAt: now, AvailableAt: now.Add(-2 * time.Second)}, Outcome{Status: status, Runtime: runtime})
	}
	job("A", "q1", 1500*time.Microsecond, OutcomeSucceeded)
	job("A", "q1", 1500*time.Microsecond, OutcomeFailed)
	job("B", "q1", 3*time.Millisecond, OutcomeSucceeded)
	job("B", "q1", time.Millisecond, OutcomeRetried) // not a job done
	if err := r.flush(context.Background()); err == nil {
		t.Fatal("the first flush did not report the failed write")
	}
	store.fail = 1 // now the class write fails once
	job("A", "q1", time.Millisecond, OutcomeSucceeded)
	if err := r.flush(context.Background()); err == nil {
		t.Fatal("the second flush did not report the failed write")
	}
	if err := r.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var q driver.JobMetric
	for _, p := range store.queues {
		q.Processed, q.Failed, q.RuntimeMS = q.Processed+p.Processed, q.Failed+p.Failed, q.RuntimeMS+p.RuntimeMS
		q.MaxWaitMS = max(q.MaxWaitMS, p.MaxWaitMS)
	}
	if q.Processed != 3 || q.Failed != 1 || q.RuntimeMS != 1+1+3+1 || q.MaxWaitMS != 2000 {
		t.Fatalf("per queue %+v, want 3 processed, 1 failed, 6 ms, a 2 s wait", q)
	}
	byKind := map[string]*driver.JobClassMetric{}
	for _, c := range store.classes {
		if byKind[c.Kind] == nil {
			byKind[c.Kind] = &driver.JobClassMetric{}
		}
		byKind[c.Kind].Add(c)
	}
	if a := byKind["A"]; a == nil || a.Processed != 2 || a.Failed != 1 || a.RuntimeUS != 4000 || a.Runtime.Count() != 3 || a.WaitMS != 6000 {
		t.Fatalf("class A %+v", a)
	}
	if b := byKind["B"]; b == nil || b.Processed != 1 || b.Failed != 0 || b.Runtime.Count() != 1 {
		t.Fatalf("class B %+v", b)
	}
}
