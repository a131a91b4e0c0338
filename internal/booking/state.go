package booking

import "fmt"

// This file is the booking's payment state table: what each payment event
// does to a booking in each state. It is a pure function, Apply; the
// service's ApplyPaymentTx runs it under the booking's row lock and the
// store writes what it decides.
//
//	event              pending          paid         expired/cancelled/failed       refunded
//	paid               paid             duplicate    paid again (late payment) if   ignored
//	                                                 seats are left and the tour
//	                                                 has not departed, else
//	                                                 needs_refund; duplicate once
//	                                                 flagged
//	pending            pending          ignored      ignored                        ignored
//	challenge          challenge        ignored      ignored                        ignored
//	denied             failed,          ignored      ignored                        ignored
//	                   seats back
//	cancelled          cancelled,       ignored      ignored                        ignored
//	                   seats back
//	expired            expired,         ignored      ignored                        ignored
//	                   seats back
//	refunded           refunded,        refunded,    refunded, needs_refund         duplicate
//	                   seats back       seats back   cleared (held no seats)
//	partial_refund     ignored          stays paid   recorded if flagged            ignored
//	                                    (recorded)   needs_refund, else ignored
//
// A tour "has departed" from its departure date (in APP_TIMEZONE): its
// seats are never sold again, not even to a late payment of a booking that
// once held them.
//
// A partial refund keeps a paid booking paid and its seats held: the
// customer still travels (a fee or one of several travellers was
// refunded), and the booking's quantity is not ours to guess; operations
// adjust it.

// Event is something that happened to a booking's payment. The payment
// package turns Midtrans' transaction statuses into events. A late payment
// is EventPaid reaching a booking that has already given its seats back.
type Event string

// The payment events.
const (
	// EventPaid: the money arrived (settlement, or a capture that fraud
	// review accepted).
	EventPaid Event = "paid"
	// EventPending: the payment is under way (pending, authorize).
	EventPending Event = "pending"
	// EventChallenge: a card capture awaits fraud review.
	EventChallenge Event = "challenge"
	// EventDenied: the payment was refused (deny, failure, or a capture
	// that fraud review denied).
	EventDenied Event = "denied"
	// EventCancelled: the payment was cancelled.
	EventCancelled Event = "cancelled"
	// EventExpired: the payment window closed unpaid.
	EventExpired Event = "expired"
	// EventRefunded: the whole amount went back to the customer.
	EventRefunded Event = "refunded"
	// EventPartialRefund: part of the amount went back.
	EventPartialRefund Event = "partial_refund"
)

// Events lists every event, in the order of the state table.
var Events = []Event{EventPaid, EventPending, EventChallenge, EventDenied, EventCancelled, EventExpired, EventRefunded, EventPartialRefund}

// Statuses lists every booking status.
var Statuses = []Status{StatusPending, StatusPaid, StatusExpired, StatusCancelled, StatusFailed, StatusRefunded}

// Outcome is what an event led to. The payment package stores it with the
// notification and answers it to the caller.
type Outcome string

// The outcomes of Apply.
const (
	OutcomePaid          Outcome = "paid"           // a pending booking was paid
	OutcomePaidLate      Outcome = "paid_late"      // an expired, cancelled or failed booking took its seats again
	OutcomeNeedsRefund   Outcome = "needs_refund"   // paid too late and sold out or departed: flagged for a refund
	OutcomeDuplicate     Outcome = "duplicate"      // the booking is already in the state this asks for
	OutcomePending       Outcome = "pending"        // the payment is under way; nothing changes but the record
	OutcomeChallenge     Outcome = "challenge"      // a card capture awaits fraud review; stays pending
	OutcomeCancelled     Outcome = "cancelled"      // a pending booking was cancelled, seats back
	OutcomeFailed        Outcome = "failed"         // a pending booking's payment was denied, seats back
	OutcomeExpired       Outcome = "expired"        // a pending booking's payment expired, seats back
	OutcomeRefunded      Outcome = "refunded"       // the booking was refunded
	OutcomePartialRefund Outcome = "partial_refund" // recorded; the booking keeps its status
	OutcomeIgnored       Outcome = "ignored"        // stale or out of order; nothing changes
)

// Seats is what a transition does to the seats of the booking's tour.
type Seats int

// The seat changes.
const (
	// SeatsKeep leaves the tour's quota alone.
	SeatsKeep Seats = iota
	// SeatsTake takes the booking's quantity from the quota if that many
	// are left; otherwise the transition's Fallback applies instead.
	SeatsTake
	// SeatsRelease gives the booking's quantity back to the quota.
	SeatsRelease
)

// Stamp names the timestamp a transition sets to the time of the event.
type Stamp int

// The timestamps.
const (
	StampNone Stamp = iota
	StampPaid
	StampCancelled
	StampExpired
	StampFailed
	StampRefunded
)

// Flag is what a transition does to the booking's needs_refund flag.
type Flag int

// The flag changes.
const (
	FlagKeep Flag = iota
	FlagSet
	FlagClear
)

// State is what the state table reads of a booking.
type State struct {
	Status Status
	// NeedsRefund is set on a booking whose late payment could not take
	// its seats back.
	NeedsRefund bool
	// Departed is true once the booking's tour departs today or earlier,
	// in APP_TIMEZONE.
	Departed bool
}

// Transition is what an event does to a booking: the state table's cell.
type Transition struct {
	Outcome Outcome
	// Status is the booking's status afterwards; the same as before when
	// the event does not move it.
	Status Status
	Seats  Seats
	Stamp  Stamp
	// NeedsRefund sets or clears the needs_refund flag.
	NeedsRefund Flag
	// Fallback applies instead when Seats is SeatsTake and too few seats
	// are left. It is nil otherwise.
	Fallback *Transition
}

// Writes reports whether the transition writes to the booking: every
// outcome but a duplicate or an ignored event records the payment's
// details, even when the status stays.
func (t Transition) Writes() bool {
	return t.Outcome != OutcomeDuplicate && t.Outcome != OutcomeIgnored
}

// released reports whether a booking in this status gave its seats back
// without being refunded.
func released(s Status) bool {
	return s == StatusExpired || s == StatusCancelled || s == StatusFailed
}

// Apply returns what ev does to a booking in state st. It changes nothing
// itself and fails only for an unknown event. A booking in a status it
// does not know (one written by hand, say) ignores every event: failing
// would have Midtrans send the notification again for days.
func Apply(st State, ev Event) (Transition, error) {
	same := func(o Outcome) Transition { return Transition{Outcome: o, Status: st.Status} }
	ignored := same(OutcomeIgnored)
	switch ev {
	case EventPaid:
		switch {
		case st.Status == StatusPending:
			return Transition{Outcome: OutcomePaid, Status: StatusPaid, Stamp: StampPaid}, nil
		case st.Status == StatusPaid:
			return same(OutcomeDuplicate), nil
		case released(st.Status) && st.NeedsRefund:
			return same(OutcomeDuplicate), nil
		case released(st.Status):
			flag := Transition{Outcome: OutcomeNeedsRefund, Status: st.Status, NeedsRefund: FlagSet}
			if st.Departed {
				// A departed tour is never sold again, not even to the
				// booking that once held the seats: the customer could
				// not travel, so the money goes back.
				return flag, nil
			}
			return Transition{Outcome: OutcomePaidLate, Status: StatusPaid, Seats: SeatsTake, Stamp: StampPaid, Fallback: &flag}, nil
		}
		return ignored, nil

	case EventPending, EventChallenge:
		if st.Status != StatusPending {
			return ignored, nil
		}
		// Only how the customer pays is recorded; the booking keeps its
		// seats and its status.
		if ev == EventChallenge {
			return same(OutcomeChallenge), nil
		}
		return same(OutcomePending), nil

	case EventDenied, EventCancelled, EventExpired:
		if st.Status != StatusPending {
			return ignored, nil
		}
		switch ev {
		case EventCancelled:
			return Transition{Outcome: OutcomeCancelled, Status: StatusCancelled, Seats: SeatsRelease, Stamp: StampCancelled}, nil
		case EventExpired:
			return Transition{Outcome: OutcomeExpired, Status: StatusExpired, Seats: SeatsRelease, Stamp: StampExpired}, nil
		}
		return Transition{Outcome: OutcomeFailed, Status: StatusFailed, Seats: SeatsRelease, Stamp: StampFailed}, nil

	case EventRefunded:
		switch {
		case st.Status == StatusRefunded:
			return same(OutcomeDuplicate), nil
		case st.Status.HoldsSeats():
			// A refund that overtakes its settlement still ends the
			// booking: the money went back.
			return Transition{Outcome: OutcomeRefunded, Status: StatusRefunded, Seats: SeatsRelease, Stamp: StampRefunded}, nil
		case released(st.Status):
			// The booking holds no seats; a late payment flagged for a
			// refund has now been refunded.
			return Transition{Outcome: OutcomeRefunded, Status: StatusRefunded, Stamp: StampRefunded, NeedsRefund: FlagClear}, nil
		}
		return ignored, nil

	case EventPartialRefund:
		if st.Status == StatusPaid || (st.NeedsRefund && released(st.Status)) {
			return same(OutcomePartialRefund), nil
		}
		return ignored, nil
	}
	return Transition{}, fmt.Errorf("booking: apply: unknown event %q", ev)
}
