package cli

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestQueueRetryBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		o := newOpsCLI(t, d, nil)
		ctx := context.Background()
		f1 := o.failedJob("emails", "SendETicketEmail", time.Minute)
		f2 := o.failedJob("emails", "SendETicketEmail", time.Minute)
		o.failedJob("emails", "SendETicketEmail", time.Minute) // of no batch
		now, err := o.db.Now(ctx)
		require.NoError(t, err)
		_, err = o.db.ExecContext(ctx, o.db.Rebind(`INSERT INTO job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at)
VALUES ('b-1', 'tickets', 3, 0, 2, ?, NULL, ?), ('b-2', 'clean', 1, 0, 0, '[]', NULL, ?)`), `["`+f1+`","`+f2+`"]`, now.Unix(), now.Unix())
		require.NoError(t, err)

		out := o.mustRun("queue:retry-batch", "b-1")
		require.Contains(t, out, "The failed job ["+f1+"] (SendETicketEmail) has been pushed back onto the [emails] queue.")
		require.Contains(t, out, f2)
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM failed_jobs"), "the job of no batch stays failed")
		require.Equal(t, 2, o.count("SELECT COUNT(*) FROM jobs WHERE queue = 'emails'"))

		require.Contains(t, o.mustRun("queue", "retry-batch", "b-1"), "has no failed jobs to retry", "retrying again finds them gone")
		require.Contains(t, o.mustRun("queue", "retry-batch", "b-2"), "has no failed jobs to retry")
		_, err = o.run("queue", "retry-batch", "nope")
		require.ErrorContains(t, err, "no batch with ID nope")
		_, err = o.run("queue", "retry-batch")
		require.Error(t, err)
		require.Contains(t, o.mustRun("help", "queue", "retry-batch"), "tripin queue:retry-batch")
	})
}
