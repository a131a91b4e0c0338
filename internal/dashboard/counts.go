package dashboard

import "github.com/tripintravel/tripin/queue/driver"

// jobCount shows one of a queue's counts: "10,000+" when counting
// stopped at the limit (driver.QueueStat.Capped).
func jobCount(s *driver.QueueStat, n int) string {
	if s.Capped(n) {
		return thousands(int64(s.CountLimit)) + "+"
	}
	return thousands(int64(n))
}
