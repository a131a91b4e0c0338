package queue

import (
	"context"
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
	r := newRecorder(discardMetrics{}, slog.New(slog.DiscardHandler), time.Hour, true, false)
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
