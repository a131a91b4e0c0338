package dbdriver

// The statements of the reads whose plans queues_plan_test.go checks.
func (b *Base) QueueCountsSQL(limit int) string { return b.queueCountsSQL(limit) }
func (b *Base) JobQueuesSQL() string            { return b.jobQueuesSQL() }
func (b *Base) JobListSQL(state string, after bool) (string, error) {
	return b.jobListSQL(state, after, 51)
}
