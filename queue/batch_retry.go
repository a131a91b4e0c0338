package queue

import (
	"context"
	"fmt"

	"github.com/tripintravel/tripin/queue/driver"
)

// RetryBatch puts the failed jobs of a batch back on their queues, as
// Laravel's queue:retry-batch: the jobs whose uuids the batch lists among
// its failed ones and that are still in failed_jobs (a job forgotten or
// pruned since is skipped). It returns the batch and the jobs it moved;
// none is not an error. defaultMaxAttempts is the tries of a job whose
// payload sets none.
func RetryBatch(ctx context.Context, adm driver.Admin, id string, defaultMaxAttempts int) (*driver.Batch, []*driver.FailedJob, error) {
	b, err := adm.BatchGet(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("queue: retry batch %s: %w", id, err)
	}
	if len(b.FailedJobIDs) == 0 {
		return b, nil, nil
	}
	moved, err := adm.FailedRetry(ctx, &driver.FailedRetryParams{IDs: b.FailedJobIDs, DefaultMaxAttempts: defaultMaxAttempts})
	if err != nil {
		return b, nil, fmt.Errorf("queue: retry batch %s: %w", id, err)
	}
	return b, moved, nil
}
