package tripinredis

import (
	"context"
	"fmt"
	"strconv"
)

// JobExists reports whether the job id is still in the queue: waiting in
// the outbox for its move into Redis, or in Redis (pending, delayed,
// running or waiting for a retry). A job that completed, failed for good,
// was cleared or was lost with Redis's data is gone. It implements the
// scheduler's JobChecker, which frees a WithoutOverlapping event once the
// job it dispatched is gone.
//
// The outbox is read first: the relay writes the job into Redis before it
// deletes its row, so a job that is in neither place when read in this
// order is really gone, whatever relay ran in between. The row is read
// from the primary, as a replica may not have it yet.
func (d *Driver) JobExists(ctx context.Context, id int64) (bool, error) {
	var n int
	err := d.db.DB.QueryRowContext(ctx, d.outboxHas, outboxTag+strconv.FormatInt(id, 10)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("queue: look up job %d in the outbox: %w", id, err)
	}
	if n > 0 {
		return true, nil
	}
	m, err := d.rdb.Exists(ctx, d.key("job:", strconv.FormatInt(id, 10))).Result()
	if err != nil {
		return false, fmt.Errorf("queue: look up job %d in redis: %w", id, err)
	}
	return m > 0, nil
}
