package queue

import (
	"math/rand/v2"
	"time"
)

// claimPlan decides when a run claims jobs and how many. A claim of many
// rows costs about what a claim of one does, so with only a few slots
// free it waits fetchCoalesce for more to free up; at most maxInFlight
// claims are under way; after a claim that came back short, or failed,
// the next waits a jittered poll delay (the listener's longer interval
// while it hears of new jobs, an error backoff after failures) unless
// something wakes it sooner.
type claimPlan struct {
	p *WorkParams
	// want is set when a claim should go out as soon as slots allow.
	want bool
	// inFlight counts claims under way, inFlightMax the slots they may
	// fill.
	inFlight, inFlightMax int
	// minFetch is the number of free slots worth a claim at once; fewer
	// wait up to fetchCoalesce (coalesce), then claim anyway (coalesced).
	minFetch  int
	coalesced bool
	coalesce  <-chan time.Time
	// lastFull is set when the last claim filled every slot it asked for:
	// more jobs are likely waiting.
	lastFull bool
	// pushed is set while the driver's listener hears of new jobs.
	pushed     bool
	errBackoff time.Duration
	poll       *time.Timer
}

func newClaimPlan(p *WorkParams) *claimPlan {
	c := &claimPlan{p: p, want: true, minFetch: max(1, p.Concurrency/4), poll: time.NewTimer(time.Hour)}
	c.poll.Stop()
	return c
}

// stop ends the poll timer.
func (c *claimPlan) stop() { c.poll.Stop() }

// next returns how many jobs to claim now, 0 for none. free is the slots
// no running job or claim under way holds; idle is true when nothing runs
// and no claim is under way. A claim it returns counts as under way until
// claimed reports it.
func (c *claimPlan) next(free int, idle bool) int {
	if !c.want || c.inFlight >= maxInFlight {
		return 0
	}
	switch {
	case free <= 0:
	case free >= c.minFetch || idle || c.coalesced:
		c.want, c.coalesced = false, false
		c.inFlight++
		c.inFlightMax += free
		return free
	case c.coalesce == nil:
		c.coalesce = time.After(fetchCoalesce)
	}
	return 0
}

// coalesceDone records that the coalescing wait is over: the next claim
// goes out whatever the free slots.
func (c *claimPlan) coalesceDone() { c.coalesce, c.coalesced = nil, true }

// claimed records a claim's return: got rows of the asked for, or an
// error.
func (c *claimPlan) claimed(got, asked int, err error) {
	c.inFlight--
	c.inFlightMax -= asked
	if err != nil {
		c.errBackoff = min(max(c.errBackoff*2, 10*time.Millisecond), c.p.Sleep)
		c.poll.Reset(c.delay())
		return
	}
	c.errBackoff = 0
	c.lastFull = got == asked
	if c.lastFull {
		c.want = true
	} else {
		c.poll.Reset(c.delay())
	}
}

// slotFreed records that a job ended: after a full claim, claim again.
func (c *claimPlan) slotFreed() {
	if c.lastFull {
		c.want = true
	}
}

// delay is the wait before looking at the queue again after a claim that
// came back short or failed.
func (c *claimPlan) delay() time.Duration {
	base := c.p.PollInterval
	if c.pushed {
		base = c.p.ListenPollInterval
	}
	if c.errBackoff > 0 {
		base = c.errBackoff
	}
	return min(base/2+rand.N(base/2+1), c.p.Sleep)
}
