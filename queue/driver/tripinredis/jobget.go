package tripinredis

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/tripintravel/tripin/queue/driver"
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

var _ driver.ClaimChecker = (*Driver)(nil)

// ClaimHeldTx reports whether a job in Redis is still held by a worker's
// claim. The job is not in tx's database: the answer holds for the moment
// it is read.
func (d *Driver) ClaimHeldTx(ctx context.Context, _ *sql.Tx, workerID string, l driver.JobLease) (bool, error) {
	v, err := d.rdb.HMGet(ctx, d.key("job:", strconv.FormatInt(l.ID, 10)), "reserved_by", "claim_seq").Result()
	if err != nil {
		return false, fmt.Errorf("queue: check the claim of job %d: %w", l.ID, err)
	}
	by, _ := v[0].(string)
	claim, _ := v[1].(string)
	return by == workerID && claim == strconv.FormatInt(l.Claim, 10), nil
}
