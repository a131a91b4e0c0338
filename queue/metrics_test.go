package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

func TestMetricsRecorded(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		h.batchWorkers()
		c, ops := h.worker(&queue.OpsConfig{KeepCompleted: true})
		ctx := context.Background()
		for i := range 5 {
			_, err := c.Insert(ctx, batchItemArgs{N: i, Fail: i == 0}, &queue.InsertOpts{Queue: "emails", Tries: 1})
			require.NoError(t, err)
		}
		h.runUntilEmpty(c, opsParams("emails"))
		require.NoError(t, ops.Flush(ctx))
		pts, err := h.adm.JobMetricsList(ctx, &driver.JobMetricsListParams{Since: time.Now().Add(-time.Hour), Queue: "emails"})
		require.NoError(t, err)
		var processed, failed int
		for _, p := range pts {
			processed += p.Processed
			failed += p.Failed
		}
		require.Equal(t, 4, processed)
		require.Equal(t, 1, failed)

		// The same, per job class, with the runtimes' histogram.
		classes, err := h.adm.JobClassMetricsList(ctx, &driver.JobClassMetricsListParams{Since: time.Now().Add(-time.Hour), Queue: "emails"})
		require.NoError(t, err)
		var sum driver.JobClassMetric
		for _, c := range classes {
			require.Equal(t, batchItemArgs{}.Kind(), c.Kind)
			require.Equal(t, time.Minute, c.Span)
			sum.Add(c)
		}
		require.Equal(t, 4, sum.Processed)
		require.Equal(t, 1, sum.Failed)
		require.Equal(t, 5, sum.Runtime.Count())
		require.Equal(t, 4, h.count("SELECT COUNT(*) FROM completed_jobs WHERE queue = 'emails'"))
	})
}
