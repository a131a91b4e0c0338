package queue

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestClaimPlan: a claim goes out for enough free slots, or for any when
// the worker is idle, or after the coalescing wait; never more than
// maxInFlight at once; a full claim asks for another, a short one waits
// for the poll, a failed one backs off.
func TestClaimPlan(t *testing.T) {
	p := &WorkParams{Concurrency: 8, PollInterval: 50 * time.Millisecond, ListenPollInterval: time.Second, Sleep: 3 * time.Second}
	c := newClaimPlan(p)
	defer c.stop()
	require.Equal(t, 2, c.minFetch)

	require.Equal(t, 8, c.next(8, true), "idle: claim every free slot")
	require.Equal(t, 0, c.next(8, false), "no claim is wanted until one returns or a slot frees")
	c.want = true
	require.Equal(t, 0, c.next(1, false), "one slot is not worth a claim while others run")
	require.NotNil(t, c.coalesce, "it waits for more slots")
	c.coalesceDone()
	require.Equal(t, 1, c.next(1, false), "after the wait it claims anyway")
	c.want = true
	require.Equal(t, 0, c.next(8, false), "at most two claims under way")
	require.Equal(t, 2, c.inFlight)
	require.Equal(t, 9, c.inFlightMax)

	c.claimed(8, 8, nil)
	require.True(t, c.lastFull)
	require.True(t, c.want, "a full claim asks for another at once")
	c.claimed(0, 1, nil)
	require.False(t, c.lastFull)
	require.Equal(t, 0, c.inFlight)
	require.Equal(t, 0, c.inFlightMax)

	c.want = false
	c.slotFreed()
	require.False(t, c.want, "after a short claim a freed slot waits for the poll")
	c.lastFull = true
	c.slotFreed()
	require.True(t, c.want, "after a full claim a freed slot claims again")

	require.Equal(t, 8, c.next(8, true))
	c.claimed(0, 8, errors.New("database is locked"))
	require.Equal(t, 10*time.Millisecond, c.errBackoff)
	c.want = true
	require.Equal(t, 8, c.next(8, true))
	c.claimed(0, 8, errors.New("database is locked"))
	require.Equal(t, 20*time.Millisecond, c.errBackoff, "failures back off, doubling")
	for range 20 {
		c.inFlight++
		c.inFlightMax += 8
		c.claimed(0, 8, errors.New("database is locked"))
	}
	require.Equal(t, p.Sleep, c.errBackoff, "up to Sleep")
	require.LessOrEqual(t, c.delay(), p.Sleep)
	c.inFlight++
	c.inFlightMax += 8
	c.claimed(0, 8, nil)
	require.Zero(t, c.errBackoff, "a claim that works ends the backoff")
	for range 50 {
		d := c.delay()
		require.GreaterOrEqual(t, d, p.PollInterval/2)
		require.LessOrEqual(t, d, p.PollInterval)
	}
	c.pushed = true
	require.Greater(t, c.delay(), p.PollInterval, "while the listener hears of jobs, polls are rarer")
}

// TestStopper: the first reason is kept, a stop only gets harder, and a
// hard stop arms StopTimeout, then the release after the grace.
func TestStopper(t *testing.T) {
	s := newStopper(time.Millisecond, time.Millisecond, slog.New(slog.DiscardHandler))
	require.False(t, s.stopping())
	limit := errors.New("memory limit")
	s.stop(softStop, limit, "memory", 3)
	require.True(t, s.stopping())
	require.Nil(t, s.timer, "a soft stop has no deadline")
	s.stop(softStop, errors.New("later"), "again", 3)
	require.Equal(t, limit, s.reason, "the first reason stays")
	s.stop(hardStop, nil, "signal", 3)
	require.Equal(t, hardStop, s.state)
	require.Equal(t, limit, s.reason)
	<-s.timer
	s.timedOut()
	require.True(t, s.cancelled)
	require.Nil(t, s.timer)
	<-s.release
	s.released()
	require.True(t, s.forced)
	s.stop(softStop, nil, "late", 0)
	require.Equal(t, hardStop, s.state, "a stop never gets softer")
}
