package booking

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PaymentView is a booking as its payment sees it: the booking, its
// payment details and its Snap transaction.
type PaymentView struct {
	Booking
	NeedsRefund bool
	// TransactionID is Midtrans' id of the last transaction recorded.
	TransactionID string
	// SnapToken and SnapRedirectURL are the Snap transaction's, once
	// created.
	SnapToken       string
	SnapRedirectURL string
	// SnapClaim is held by the request creating the Snap transaction,
	// since SnapClaimedAt; empty when none is.
	SnapClaim     string
	SnapClaimedAt *time.Time
}

// PaymentFields are Midtrans' details of a payment, recorded on the booking
// with every event that writes. Empty TransactionID and PaymentType keep
// what was recorded before.
type PaymentFields struct {
	TransactionID     string
	TransactionStatus string
	FraudStatus       string
	PaymentType       string
}

// PaymentEvent is one payment event for the booking with Code.
type PaymentEvent struct {
	Code   string
	Event  Event
	Fields PaymentFields
	// At is when it is applied: the timestamps the transition sets.
	At time.Time
}

// PaymentResult is what ApplyPaymentTx did.
type PaymentResult struct {
	// Before is the booking as it was, locked, before the event.
	Before PaymentView
	// Transition is the one applied: the table's, or its fallback when
	// too few seats were left to take.
	Transition Transition
	// Departed is true when the booking's tour had departed; it is looked
	// up only for a late payment, the one event it changes.
	Departed bool
}

// ApplyPaymentTx applies a payment event to the booking with ev.Code
// inside the caller's transaction: it locks the booking, looks its state
// up in the state table (Apply) and has the store write the transition,
// taking or giving back seats with the store's one rule for each. It runs
// no OnReleaseTx hooks: they expire the Snap transaction, which Midtrans
// has already ended when it reports a payment denied, cancelled, expired
// or refunded. An unknown code fails with ENOTFOUND.
func (s *Service) ApplyPaymentTx(ctx context.Context, tx *sql.Tx, ev PaymentEvent) (PaymentResult, error) {
	b, err := s.store.BookingPaymentLockTx(ctx, tx, ev.Code)
	if err != nil {
		return PaymentResult{}, err
	}
	st := State{Status: b.Status, NeedsRefund: b.NeedsRefund}
	tr, err := Apply(st, ev.Event)
	if err != nil {
		return PaymentResult{}, err
	}
	if tr.Seats == SeatsTake {
		// Only a late payment asks whether the tour has departed: read its
		// date then, and look the cell up again.
		dep, err := s.store.TourDepartureTx(ctx, tx, b.TourID)
		if err != nil {
			return PaymentResult{}, err
		}
		st.Departed = dep <= s.Today()
		if tr, err = Apply(st, ev.Event); err != nil {
			return PaymentResult{}, err
		}
	}
	departed := st.Departed
	res := PaymentResult{Before: *b, Transition: tr, Departed: departed}
	if !tr.Writes() {
		return res, nil
	}
	if res.Transition, err = s.store.BookingApplyTx(ctx, tx, b, tr, ev.Fields, ev.At); err != nil {
		return PaymentResult{}, fmt.Errorf("booking: apply %s to %s: %w", ev.Event, b.Code, err)
	}
	return res, nil
}
