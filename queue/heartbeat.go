package queue

import (
	"context"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// heartbeater is the heartbeat state of one run: the worker renews the
// leases it holds every RetryAfter/3, and marks started the jobs it has
// been running for startMarkDelay, every startMarkInterval. At most one
// heartbeat is under way; one that falls due meanwhile goes out when it
// returns. The run's loop owns it: it reads the tickers, sets renewDue or
// markDue, asks due for the leases to send, and clears inFlight when the
// result arrives on done.
type heartbeater struct {
	renewTicker *time.Ticker
	markTicker  *time.Ticker
	done        chan heartbeatResult

	inFlight bool // a heartbeat is under way
	renewDue bool // every lease held is due for renewal
	markDue  bool // jobs running for a while are due for their start mark
}

// newHeartbeater returns the heartbeat state for leases of retryAfter.
func newHeartbeater(retryAfter time.Duration) *heartbeater {
	every := max(retryAfter/3, 10*time.Millisecond)
	return &heartbeater{
		renewTicker: time.NewTicker(every),
		markTicker:  time.NewTicker(min(startMarkInterval, every)),
		done:        make(chan heartbeatResult, 1),
	}
}

// stop ends the tickers.
func (h *heartbeater) stop() {
	h.renewTicker.Stop()
	h.markTicker.Stop()
}

// due returns the leases of the heartbeat that is due, unless one is
// under way: a renewal of every lease held (held's, those whose outcome
// waits in the completer, and the running jobs'), which also marks the
// running ones started, or else the start marks of the jobs running since
// before now less startMarkDelay. Jobs whose lease is lost are left out.
// It clears what was due and, when it returns leases, counts the
// heartbeat under way.
func (h *heartbeater) due(held func() []driver.JobLease, running map[*execution]struct{}, now time.Time) []driver.JobLease {
	if h.inFlight || (!h.renewDue && !h.markDue) {
		return nil
	}
	var leases []driver.JobLease
	if h.renewDue {
		leases = held()
		for e := range running {
			if !e.lost {
				leases = append(leases, e.lease())
			}
		}
	} else {
		cutoff := now.Add(-startMarkDelay)
		for e := range running {
			if !e.marked && !e.lost && e.start.Before(cutoff) {
				leases = append(leases, e.lease())
			}
		}
	}
	h.renewDue, h.markDue = false, false
	if len(leases) > 0 {
		h.inFlight = true
	}
	return leases
}

// startMarkInterval is how often the worker marks the jobs it has been
// running for startMarkDelay started (one heartbeat for all of them);
// jobs that end sooner are never marked, their outcome being their mark.
const (
	startMarkInterval = time.Second
	startMarkDelay    = 500 * time.Millisecond
)

// heartbeatResult is what one heartbeat reports to the loop.
type heartbeatResult struct {
	leases []driver.JobLease
	lost   []int64
	err    error
	start  time.Time
}

// heartbeatTimeout bounds one heartbeat: well inside the lease, so that a
// black-holed connection is given up while there is still time to renew.
func (r *runner) heartbeatTimeout() time.Duration {
	return min(max(r.c.cfg.RetryAfter/3, time.Second), 30*time.Second)
}

// heartbeat renews leases and reports the result on done.
func (r *runner) heartbeat(ctx context.Context, leases []driver.JobLease, done chan<- heartbeatResult) {
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, r.heartbeatTimeout())
	defer cancel()
	lost, err := r.d.JobHeartbeatMany(hctx, &driver.JobHeartbeatParams{
		WorkerID: r.c.cfg.WorkerID, Jobs: leases, Lease: r.c.cfg.RetryAfter, Now: r.c.now(),
	})
	done <- heartbeatResult{leases: leases, lost: lost, err: err, start: start}
}

// renewed applies a heartbeat's result to the running jobs: those it
// renewed are marked started with a fresh lease; those it could not renew
// are stopped, since another worker may hold them now. Jobs whose outcome
// was written meanwhile are no longer running and are left alone; jobs
// whose outcome is still buffered learn of a lost lease from the write.
func (r *runner) renewed(res heartbeatResult) {
	if res.err != nil {
		r.log.Warn("queue: heartbeat", "error", res.err, "jobs", len(res.leases))
		r.expireUnrenewed()
		return
	}
	byID := make(map[int64]*execution, len(r.running))
	for e := range r.running {
		byID[e.row.ID] = e
	}
	lost := idSet(res.lost)
	for _, l := range res.leases {
		e := byID[l.ID]
		if e == nil || e.row.ClaimSeq != l.Claim || e.lost {
			continue
		}
		if lost[l.ID] {
			r.loseLease(e, "a heartbeat renewed nothing: another worker took the job over, or it was deleted")
			continue
		}
		e.marked = true
		if res.start.After(e.renewed) {
			e.renewed = res.start
		}
	}
}

// expireUnrenewed stops the running jobs whose lease is about to pass, by
// this process's clock, since it was last renewed: heartbeats failed (the
// database is unreachable, or the connection is black-holed), and another
// worker may take the job any moment. It runs every second, and stops a
// job leaseMargin before its lease ends: leases are kept in whole seconds
// of the database clock, so one may end up to a second before this
// process's reckoning of it.
func (r *runner) expireUnrenewed() {
	now := time.Now()
	limit := r.c.cfg.RetryAfter - leaseMargin
	if limit < r.c.cfg.RetryAfter/2 {
		limit = r.c.cfg.RetryAfter / 2
	}
	for e := range r.running {
		if !e.lost && now.Sub(e.renewed) >= limit {
			r.loseLease(e, "its lease passed without a renewal")
		}
	}
}

// leaseMargin is how long before its lease ends, by this process's clock,
// a worker whose heartbeats fail stops a job.
const leaseMargin = 2 * time.Second

// loseLease cancels a job whose lease this worker no longer holds. The
// job keeps its slot until its handler returns.
func (r *runner) loseLease(e *execution, why string) {
	e.lost = true
	e.cancel(errLeaseLost)
	r.log.Warn("queue: lease lost; cancelling the job", "job", e.row.Kind, "id", e.row.ID, "uuid", e.row.UUID,
		"attempt", e.row.Attempts, "reason", why)
}
