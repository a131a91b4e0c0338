package queue

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/driver"
)

func runningJob(id int64, start time.Time) *execution {
	return &execution{row: &driver.JobRow{ID: id, ClaimSeq: 2}, start: start}
}

// TestHeartbeaterDue: a renewal takes every lease held (buffered outcomes
// and running jobs not lost); a start mark only the running jobs not yet
// marked that began more than startMarkDelay ago; nothing goes out while
// a heartbeat is under way, and what fell due meanwhile goes out after.
func TestHeartbeaterDue(t *testing.T) {
	now := time.Now()
	old := runningJob(1, now.Add(-2*startMarkDelay))
	fresh := runningJob(2, now)
	marked := runningJob(3, now.Add(-2*startMarkDelay))
	marked.marked = true
	lost := runningJob(4, now.Add(-2*startMarkDelay))
	lost.lost = true
	running := map[*execution]struct{}{old: {}, fresh: {}, marked: {}, lost: {}}
	heldCalls := 0
	held := func() []driver.JobLease {
		heldCalls++
		return []driver.JobLease{{ID: 9, Claim: 1}}
	}

	h := newHeartbeater(time.Minute)
	defer h.stop()
	require.Nil(t, h.due(held, running, now), "nothing due")
	require.False(t, h.inFlight)

	h.markDue = true
	require.ElementsMatch(t, []driver.JobLease{{ID: 1, Claim: 2}}, h.due(held, running, now))
	require.True(t, h.inFlight)
	require.Zero(t, heldCalls, "a start mark renews no buffered outcome")

	// Due while one is under way: held until it returns.
	h.renewDue = true
	require.Nil(t, h.due(held, running, now))
	h.inFlight = false
	require.ElementsMatch(t, []driver.JobLease{{ID: 9, Claim: 1}, {ID: 1, Claim: 2}, {ID: 2, Claim: 2}, {ID: 3, Claim: 2}},
		h.due(held, running, now))
	require.Equal(t, 1, heldCalls)
	require.False(t, h.renewDue)
	require.False(t, h.markDue)

	// Nothing to mark: no heartbeat, none counted under way.
	h.inFlight = false
	h.markDue = true
	require.Empty(t, h.due(held, map[*execution]struct{}{fresh: {}}, now))
	require.False(t, h.inFlight)
	require.False(t, h.markDue)
}

// TestHeartbeaterTickers: renewals tick every third of the lease, start
// marks at most every startMarkInterval.
func TestHeartbeaterTickers(t *testing.T) {
	h := newHeartbeater(30 * time.Millisecond)
	defer h.stop()
	for range 3 {
		<-h.renewTicker.C
		<-h.markTicker.C
	}
	h.stop()
	select {
	case <-h.renewTicker.C:
		// at most one tick was buffered before stop
		select {
		case <-h.renewTicker.C:
			t.Fatal("renewal ticker still running after stop")
		case <-time.After(50 * time.Millisecond):
		}
	case <-time.After(50 * time.Millisecond):
	}
}

// TestLeaseExpiry: a running job whose lease was last renewed longer ago
// than the lease less leaseMargin is cancelled with errLeaseLost, one
// renewed since is left running; a heartbeat marks the jobs it renewed
// started with a fresh lease, and loses those it renewed nothing for.
func TestLeaseExpiry(t *testing.T) {
	r := &runner{c: &Client{cfg: Config{RetryAfter: 10 * time.Second}}, log: slog.New(slog.DiscardHandler),
		running: map[*execution]struct{}{}}
	now := time.Now()
	job := func(id int64, renewed time.Time) (*execution, context.Context) {
		ctx, cancel := context.WithCancelCause(context.Background())
		t.Cleanup(func() { cancel(nil) })
		e := &execution{row: &driver.JobRow{ID: id, ClaimSeq: 1}, start: renewed, renewed: renewed, cancel: cancel}
		r.running[e] = struct{}{}
		return e, ctx
	}
	stale, staleCtx := job(1, now.Add(-9*time.Second))
	fresh, freshCtx := job(2, now.Add(-5*time.Second))
	gone, goneCtx := job(3, now.Add(-5*time.Second))
	r.expireUnrenewed()
	require.True(t, stale.lost)
	require.ErrorIs(t, context.Cause(staleCtx), errLeaseLost)
	require.False(t, fresh.lost)
	require.NoError(t, freshCtx.Err())

	r.renewed(heartbeatResult{leases: []driver.JobLease{fresh.lease(), gone.lease()}, lost: []int64{gone.row.ID}, start: now})
	require.True(t, fresh.marked)
	require.Equal(t, now, fresh.renewed)
	require.NoError(t, freshCtx.Err())
	require.True(t, gone.lost)
	require.False(t, gone.marked)
	require.ErrorIs(t, context.Cause(goneCtx), errLeaseLost)

	// A failed heartbeat changes nothing by itself.
	r.renewed(heartbeatResult{leases: []driver.JobLease{fresh.lease()}, err: context.DeadlineExceeded, start: now.Add(time.Second)})
	require.Equal(t, now, fresh.renewed)
	require.False(t, fresh.lost)
}
