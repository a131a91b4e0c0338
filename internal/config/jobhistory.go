package config

import (
	"time"
)

// The history of completed jobs the dashboard's "Recent jobs" page and a
// job's page read (issue 15).
const (
	// DefaultQueueKeepCompleted is QUEUE_KEEP_COMPLETED when unset: an
	// hour of completed jobs, what an operator looks back over when a
	// customer asks about an email, for a cost to the drain rate measured
	// in docs/BENCHMARKS.md ("Keeping completed jobs").
	DefaultQueueKeepCompleted = time.Hour
	// DefaultQueueMonitoredKeep is QUEUE_MONITORED_KEEP when unset: the
	// completed jobs of a monitored tag are kept a week.
	DefaultQueueMonitoredKeep = 7 * 24 * time.Hour
	// maxKeep bounds both keys (a year).
	maxKeep = 365 * 24 * time.Hour
)

// jobHistory reads QUEUE_KEEP_COMPLETED and QUEUE_MONITORED_KEEP: a Go
// duration ("1h", "30m") or whole seconds; 0 turns that history off.
func (p *parser) jobHistory(c *Config) {
	c.QueueKeepCompleted = p.keep("QUEUE_KEEP_COMPLETED", DefaultQueueKeepCompleted)
	c.QueueMonitoredKeep = p.keep("QUEUE_MONITORED_KEEP", DefaultQueueMonitoredKeep)
	// The hourly prune deletes completed jobs older than the keep: it is
	// the completed-jobs retention, whatever QUEUE_COMPLETED_RETENTION_HOURS
	// says (which remains the window when the keep is off, for history an
	// embedding application keeps itself).
	if c.QueueKeepCompleted > 0 {
		c.Retention.CompletedJobs = c.QueueKeepCompleted
	}
}

func (p *parser) keep(key string, def time.Duration) time.Duration {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	d, err := parseKeep(v)
	if err != nil || d < 0 || d > maxKeep {
		p.fail(key, "must be a duration such as 1h or 30m (or seconds), 0 to turn it off, at most 8760h")
		return def
	}
	return d
}

func parseKeep(v string) (time.Duration, error) {
	var n int64
	allDigits := v != ""
	for _, r := range v {
		if r < '0' || r > '9' {
			allDigits = false
			break
		}
		n = n*10 + int64(r-'0')
		if n > int64(maxKeep/time.Second) {
			return maxKeep + 1, nil
		}
	}
	if allDigits {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// dumpJobHistory adds the history keys to the values of a Dump.
func (c *Config) dumpJobHistory(vals map[string]string) {
	vals["QUEUE_KEEP_COMPLETED"] = c.QueueKeepCompleted.String()
	vals["QUEUE_MONITORED_KEEP"] = c.QueueMonitoredKeep.String()
}
