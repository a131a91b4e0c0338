package tripinredis

import (
	"context"
	"fmt"

	"github.com/tripintravel/tripin/internal/queue/driver"
)

var _ driver.JobGetter = (*Driver)(nil)

// JobGet reads one job from Redis by id; driver.ErrNotFound once its hash
// is gone (completed, or failed for good).
func (d *Driver) JobGet(ctx context.Context, id int64) (*driver.JobRow, error) {
	jobs, err := d.jobs(ctx, []int64{id})
	if err != nil {
		return nil, fmt.Errorf("queue: get job %d: %w", id, err)
	}
	if len(jobs) == 0 {
		return nil, driver.ErrNotFound
	}
	return jobs[0], nil
}
