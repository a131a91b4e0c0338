package dbdriver

import "github.com/tripintravel/tripin/queue/driver"

// The statements of the reads whose plans queues_plan_test.go checks.
func (b *Base) QueueCountsSQL(limit int) string { return b.queueCountsSQL(limit) }
func (b *Base) JobQueuesSQL() string            { return b.jobQueuesSQL() }
func (b *Base) JobListSQL(state string, after bool) (string, error) {
	return b.jobListSQL(state, after, 51)
}

func (b *Base) CursorArgs(c *driver.JobListCursor) []any { return b.cursorArgs(c) }
