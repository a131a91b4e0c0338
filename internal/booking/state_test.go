package booking

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// cell names one cell of the state table: a booking's status and the
// event.
type cell struct {
	status Status
	event  Event
}

// Shorthands for the expected transitions, written out in full below.
func keep(st Status, o Outcome) Transition { return Transition{Outcome: o, Status: st} }

func move(o Outcome, to Status, seats Seats, stamp Stamp) Transition {
	return Transition{Outcome: o, Status: to, Seats: seats, Stamp: stamp}
}

// baseTable is every cell for a booking not flagged needs_refund whose
// tour has not departed.
var baseTable = func() map[cell]Transition {
	needsRefund := func(st Status) *Transition {
		return &Transition{Outcome: OutcomeNeedsRefund, Status: st, NeedsRefund: FlagSet}
	}
	late := func(st Status) Transition {
		return Transition{Outcome: OutcomePaidLate, Status: StatusPaid, Seats: SeatsTake, Stamp: StampPaid, Fallback: needsRefund(st)}
	}
	refundReleased := func() Transition {
		return Transition{Outcome: OutcomeRefunded, Status: StatusRefunded, Stamp: StampRefunded, NeedsRefund: FlagClear}
	}
	return map[cell]Transition{
		{StatusPending, EventPaid}:          move(OutcomePaid, StatusPaid, SeatsKeep, StampPaid),
		{StatusPending, EventPending}:       keep(StatusPending, OutcomePending),
		{StatusPending, EventChallenge}:     keep(StatusPending, OutcomeChallenge),
		{StatusPending, EventDenied}:        move(OutcomeFailed, StatusFailed, SeatsRelease, StampFailed),
		{StatusPending, EventCancelled}:     move(OutcomeCancelled, StatusCancelled, SeatsRelease, StampCancelled),
		{StatusPending, EventExpired}:       move(OutcomeExpired, StatusExpired, SeatsRelease, StampExpired),
		{StatusPending, EventRefunded}:      move(OutcomeRefunded, StatusRefunded, SeatsRelease, StampRefunded),
		{StatusPending, EventPartialRefund}: keep(StatusPending, OutcomeIgnored),

		{StatusPaid, EventPaid}:          keep(StatusPaid, OutcomeDuplicate),
		{StatusPaid, EventPending}:       keep(StatusPaid, OutcomeIgnored),
		{StatusPaid, EventChallenge}:     keep(StatusPaid, OutcomeIgnored),
		{StatusPaid, EventDenied}:        keep(StatusPaid, OutcomeIgnored),
		{StatusPaid, EventCancelled}:     keep(StatusPaid, OutcomeIgnored),
		{StatusPaid, EventExpired}:       keep(StatusPaid, OutcomeIgnored),
		{StatusPaid, EventRefunded}:      move(OutcomeRefunded, StatusRefunded, SeatsRelease, StampRefunded),
		{StatusPaid, EventPartialRefund}: keep(StatusPaid, OutcomePartialRefund),

		{StatusExpired, EventPaid}:          late(StatusExpired),
		{StatusExpired, EventPending}:       keep(StatusExpired, OutcomeIgnored),
		{StatusExpired, EventChallenge}:     keep(StatusExpired, OutcomeIgnored),
		{StatusExpired, EventDenied}:        keep(StatusExpired, OutcomeIgnored),
		{StatusExpired, EventCancelled}:     keep(StatusExpired, OutcomeIgnored),
		{StatusExpired, EventExpired}:       keep(StatusExpired, OutcomeIgnored),
		{StatusExpired, EventRefunded}:      refundReleased(),
		{StatusExpired, EventPartialRefund}: keep(StatusExpired, OutcomeIgnored),

		{StatusCancelled, EventPaid}:          late(StatusCancelled),
		{StatusCancelled, EventPending}:       keep(StatusCancelled, OutcomeIgnored),
		{StatusCancelled, EventChallenge}:     keep(StatusCancelled, OutcomeIgnored),
		{StatusCancelled, EventDenied}:        keep(StatusCancelled, OutcomeIgnored),
		{StatusCancelled, EventCancelled}:     keep(StatusCancelled, OutcomeIgnored),
		{StatusCancelled, EventExpired}:       keep(StatusCancelled, OutcomeIgnored),
		{StatusCancelled, EventRefunded}:      refundReleased(),
		{StatusCancelled, EventPartialRefund}: keep(StatusCancelled, OutcomeIgnored),

		{StatusFailed, EventPaid}:          late(StatusFailed),
		{StatusFailed, EventPending}:       keep(StatusFailed, OutcomeIgnored),
		{StatusFailed, EventChallenge}:     keep(StatusFailed, OutcomeIgnored),
		{StatusFailed, EventDenied}:        keep(StatusFailed, OutcomeIgnored),
		{StatusFailed, EventCancelled}:     keep(StatusFailed, OutcomeIgnored),
		{StatusFailed, EventExpired}:       keep(StatusFailed, OutcomeIgnored),
		{StatusFailed, EventRefunded}:      refundReleased(),
		{StatusFailed, EventPartialRefund}: keep(StatusFailed, OutcomeIgnored),

		{StatusRefunded, EventPaid}:          keep(StatusRefunded, OutcomeIgnored),
		{StatusRefunded, EventPending}:       keep(StatusRefunded, OutcomeIgnored),
		{StatusRefunded, EventChallenge}:     keep(StatusRefunded, OutcomeIgnored),
		{StatusRefunded, EventDenied}:        keep(StatusRefunded, OutcomeIgnored),
		{StatusRefunded, EventCancelled}:     keep(StatusRefunded, OutcomeIgnored),
		{StatusRefunded, EventExpired}:       keep(StatusRefunded, OutcomeIgnored),
		{StatusRefunded, EventRefunded}:      keep(StatusRefunded, OutcomeDuplicate),
		{StatusRefunded, EventPartialRefund}: keep(StatusRefunded, OutcomeIgnored),
	}
}()

// flaggedTable lists the cells that differ from baseTable for a booking
// flagged needs_refund (its late payment could not take its seats back).
var flaggedTable = map[cell]Transition{
	{StatusExpired, EventPaid}:            keep(StatusExpired, OutcomeDuplicate),
	{StatusCancelled, EventPaid}:          keep(StatusCancelled, OutcomeDuplicate),
	{StatusFailed, EventPaid}:             keep(StatusFailed, OutcomeDuplicate),
	{StatusExpired, EventPartialRefund}:   keep(StatusExpired, OutcomePartialRefund),
	{StatusCancelled, EventPartialRefund}: keep(StatusCancelled, OutcomePartialRefund),
	{StatusFailed, EventPartialRefund}:    keep(StatusFailed, OutcomePartialRefund),
}

// departedTable lists the cells that differ from baseTable once the tour
// has departed: a late payment is flagged at once, without trying seats.
var departedTable = map[cell]Transition{
	{StatusExpired, EventPaid}:   {Outcome: OutcomeNeedsRefund, Status: StatusExpired, NeedsRefund: FlagSet},
	{StatusCancelled, EventPaid}: {Outcome: OutcomeNeedsRefund, Status: StatusCancelled, NeedsRefund: FlagSet},
	{StatusFailed, EventPaid}:    {Outcome: OutcomeNeedsRefund, Status: StatusFailed, NeedsRefund: FlagSet},
}

// TestApplyTable checks every cell of the state table: every status, with
// and without needs_refund, tour departed or not, against every event.
func TestApplyTable(t *testing.T) {
	require.Len(t, Statuses, 6)
	require.Len(t, Events, 8)
	require.Len(t, baseTable, len(Statuses)*len(Events), "the base table covers every cell")
	checked := 0
	for _, st := range Statuses {
		for _, flagged := range []bool{false, true} {
			for _, departed := range []bool{false, true} {
				for _, ev := range Events {
					c := cell{st, ev}
					want, ok := baseTable[c]
					require.True(t, ok, "no expectation for %v", c)
					if w, ok := departedTable[c]; ok && departed && !flagged {
						want = w
					}
					if w, ok := flaggedTable[c]; ok && flagged {
						want = w
					}
					name := fmt.Sprintf("%s/needs_refund=%v/departed=%v/%s", st, flagged, departed, ev)
					got, err := Apply(State{Status: st, NeedsRefund: flagged, Departed: departed}, ev)
					require.NoError(t, err, name)
					require.Equal(t, want, got, name)
					checked++
				}
			}
		}
	}
	require.Equal(t, 6*2*2*8, checked)
}

// TestApplyKeepsSeatInvariant checks, for every cell and every fallback,
// that seats move exactly when the booking starts or stops holding them:
// capacity = quota + seats held stays true whatever arrives.
func TestApplyKeepsSeatInvariant(t *testing.T) {
	check := func(name string, from Status, tr Transition) {
		t.Helper()
		require.True(t, tr.Status.Valid(), "%s: status %q", name, tr.Status)
		switch {
		case from.HoldsSeats() && !tr.Status.HoldsSeats():
			require.Equal(t, SeatsRelease, tr.Seats, "%s: stops holding seats", name)
		case !from.HoldsSeats() && tr.Status.HoldsSeats():
			require.Equal(t, SeatsTake, tr.Seats, "%s: starts holding seats", name)
			require.NotNil(t, tr.Fallback, "%s: taking seats needs a fallback", name)
		default:
			require.Equal(t, SeatsKeep, tr.Seats, "%s: holds as many seats as before", name)
		}
		if !tr.Writes() {
			require.Equal(t, Transition{Outcome: tr.Outcome, Status: from}, tr, "%s: a duplicate or ignored event changes nothing", name)
		}
		if tr.Status != from {
			require.NotEqual(t, StampNone, tr.Stamp, "%s: a move stamps its time", name)
		}
	}
	for _, st := range Statuses {
		for _, flagged := range []bool{false, true} {
			for _, departed := range []bool{false, true} {
				for _, ev := range Events {
					name := fmt.Sprintf("%s/needs_refund=%v/departed=%v/%s", st, flagged, departed, ev)
					tr, err := Apply(State{Status: st, NeedsRefund: flagged, Departed: departed}, ev)
					require.NoError(t, err)
					check(name, st, tr)
					if tr.Fallback != nil {
						check(name+"/fallback", st, *tr.Fallback)
						require.Nil(t, tr.Fallback.Fallback)
					}
				}
			}
		}
	}
}

func TestApplyUnknown(t *testing.T) {
	_, err := Apply(State{Status: StatusPending}, Event("chargeback"))
	require.Error(t, err, "an unknown event is an error")
	for _, ev := range Events {
		tr, err := Apply(State{Status: Status("on_hold")}, ev)
		require.NoError(t, err)
		require.Equal(t, Transition{Outcome: OutcomeIgnored, Status: Status("on_hold")}, tr, "a status Apply does not know ignores %s", ev)
	}
}
