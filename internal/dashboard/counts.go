package dashboard

import (
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// jobCount shows one of a queue's counts: "10,000+" when counting
// stopped at the limit (driver.QueueStat.Capped).
func jobCount(s *driver.QueueStat, n int) string {
	if s.Capped(n) {
		return thousands(int64(s.CountLimit)) + "+"
	}
	return thousands(int64(n))
}

// formatJobCursor writes a jobs page's position as the after parameter
// of its Next link: the last job's available_at (Unix seconds) and id.
func formatJobCursor(c *driver.JobListCursor) string {
	return strconv.FormatInt(c.AvailableAt.Unix(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// parseJobCursor reads formatJobCursor's form; nil when it is malformed.
func parseJobCursor(s string) *driver.JobListCursor {
	at, id, ok := strings.Cut(s, ".")
	if !ok {
		return nil
	}
	sec, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || n < 0 {
		return nil
	}
	return &driver.JobListCursor{AvailableAt: time.Unix(sec, 0), ID: n}
}
