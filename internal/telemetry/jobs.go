package telemetry

import (
	"context"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// ObserveJob records how one attempt of a job ended. Its signature is
// that of queue.OpsConfig.Observers, so a worker feeds it with
//
//	cfg.Observers = append(cfg.Observers, m.ObserveJob)
//
// It runs on the worker's goroutine and only touches in-memory counters.
func (m *Metrics) ObserveJob(_ context.Context, row *driver.JobRow, o queue.Outcome) {
	// The job class is both kind and job on the counters: kind for the
	// queries written before, job as on the histograms.
	q, kind := row.Queue, row.Kind
	switch o.Status {
	case queue.OutcomeSucceeded:
		m.jobsProcessed.WithLabelValues(q, kind, kind).Inc()
	case queue.OutcomeFailed:
		m.jobsFailed.WithLabelValues(q, kind, kind).Inc()
	case queue.OutcomeRetried:
		m.jobsRetried.WithLabelValues(q, kind, kind).Inc()
	case queue.OutcomeReleased:
		m.jobsReleased.WithLabelValues(q, kind, kind).Inc()
	case queue.OutcomeLeaseLost:
		m.jobsLeaseLost.WithLabelValues(q, kind, kind).Inc()
	}
	// A zero runtime means the handler never started (a skipped job, or
	// one middleware released before it ran): there is no duration to
	// record, and a zero would drag the histogram down.
	if o.Runtime > 0 {
		m.jobDuration.WithLabelValues(q, kind).Observe(o.Runtime.Seconds())
	}
	// Every claim waited, whatever happened next. ReservedAt is the
	// database's clock but AvailableAt may be the application's (a job
	// inserted with RunAt), so a slightly negative wait is clock skew and
	// counts as none.
	if !row.ReservedAt.IsZero() && !row.AvailableAt.IsZero() {
		m.jobWait.WithLabelValues(q, kind).Observe(max(row.ReservedAt.Sub(row.AvailableAt), 0).Seconds())
	}
}
