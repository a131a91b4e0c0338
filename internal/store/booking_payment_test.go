package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// applyEvent applies a payment event to the booking b inside tx, as the
// booking service does, and returns the transition written.
func applyEvent(ctx context.Context, db *store.DB, tx *sql.Tx, code string, ev booking.Event, departed bool) (booking.Transition, error) {
	v, err := db.BookingPaymentLockTx(ctx, tx, code)
	if err != nil {
		return booking.Transition{}, err
	}
	tr, err := booking.Apply(booking.State{Status: v.Status, NeedsRefund: v.NeedsRefund, Departed: departed}, ev)
	if err != nil {
		return booking.Transition{}, err
	}
	return db.BookingApplyTx(ctx, tx, v, tr, booking.PaymentFields{TransactionID: "tx-" + code, TransactionStatus: string(ev)}, testNow)
}

func tourQuota(t *testing.T, db *store.DB, id int64) int {
	t.Helper()
	tour, err := db.TourGet(context.Background(), id)
	require.NoError(t, err)
	return tour.Quota
}

// TestSeatReleaseRule gives seats back through every path that releases
// them (cancel, expiry, a denied payment, a refund) and checks that each
// follows the one rule: seats come back to the tour, and a release that
// would lift the quota above the capacity (the invariant already broken
// by hand here) is refused and changes nothing.
func TestSeatReleaseRule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		ctx := context.Background()
		u := mkUser(t, db, "release-rule@example.com")
		paths := []struct {
			name    string
			release func(tx *sql.Tx, b *booking.Booking) error
			status  booking.Status
		}{
			{"cancel", func(tx *sql.Tx, b *booking.Booking) error {
				ok, err := db.BookingReleaseTx(ctx, tx, b.ID, booking.StatusCancelled, testNow)
				if err == nil && !ok {
					err = errors.New("not released")
				}
				return err
			}, booking.StatusCancelled},
			{"expiry", func(tx *sql.Tx, b *booking.Booking) error {
				return db.ExpiryExpireTx(ctx, tx, []store.ExpiryCandidate{{ID: b.ID, Code: b.Code, TourID: b.TourID, Quantity: b.Quantity}}, testNow)
			}, booking.StatusExpired},
			{"deny", func(tx *sql.Tx, b *booking.Booking) error {
				_, err := applyEvent(ctx, db, tx, b.Code, booking.EventDenied, false)
				return err
			}, booking.StatusFailed},
			{"refund", func(tx *sql.Tx, b *booking.Booking) error {
				_, err := applyEvent(ctx, db, tx, b.Code, booking.EventRefunded, false)
				return err
			}, booking.StatusRefunded},
		}
		for _, p := range paths {
			t.Run(p.name, func(t *testing.T) {
				tour := mkTour(t, db, "2026-12-20", 5)
				b1, err := book(t, db, u, tour, 2, "RULE-A-"+p.name)
				require.NoError(t, err)
				b2, err := book(t, db, u, tour, 2, "RULE-B-"+p.name)
				require.NoError(t, err)
				require.Equal(t, 1, tourQuota(t, db, tour.ID))

				require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return p.release(tx, b1) }))
				require.Equal(t, 3, tourQuota(t, db, tour.ID), "two seats back")
				got, err := db.BookingGet(ctx, b1.ID)
				require.NoError(t, err)
				require.Equal(t, p.status, got.Status)
				requireInvariant(t, db)

				// Break the invariant by hand: every seat free while b2
				// still holds two.
				_, err = db.ExecContext(ctx, db.Rebind(`UPDATE tours SET quota = capacity WHERE id = ?`), tour.ID)
				require.NoError(t, err)
				err = db.InTx(ctx, func(tx *sql.Tx) error { return p.release(tx, b2) })
				require.ErrorContains(t, err, "exceed its capacity")
				require.Equal(t, 5, tourQuota(t, db, tour.ID), "the quota stays at the capacity")
				got, err = db.BookingGet(ctx, b2.ID)
				require.NoError(t, err)
				require.Equal(t, booking.StatusPending, got.Status, "the refused release rolled back")

				// Mend the invariant for the next path.
				_, err = db.ExecContext(ctx, db.Rebind(`UPDATE tours SET quota = capacity - 2 WHERE id = ?`), tour.ID)
				require.NoError(t, err)
				requireInvariant(t, db)
			})
		}
	})
}

// TestBookingApplyTx checks the store's half of the state table: a late
// payment takes its seats back when they are left, falls back to
// needs_refund when they are not, and each write records the payment's
// details.
func TestBookingApplyTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		ctx := context.Background()
		u := mkUser(t, db, "apply@example.com")
		tour := mkTour(t, db, "2026-12-20", 2)
		late, err := book(t, db, u, tour, 2, "APPLY-LATE")
		require.NoError(t, err)
		cancel := func(b *booking.Booking) {
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := db.BookingReleaseTx(ctx, tx, b.ID, booking.StatusCancelled, testNow)
				return err
			}))
		}
		apply := func(code string, ev booking.Event) booking.Transition {
			var tr booking.Transition
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
				var err error
				tr, err = applyEvent(ctx, db, tx, code, ev, false)
				return err
			}))
			return tr
		}
		cancel(late)
		// Someone else books the two seats the cancelled booking left.
		other, err := book(t, db, u, tour, 2, "APPLY-OTHER")
		require.NoError(t, err)

		tr := apply(late.Code, booking.EventPaid)
		require.Equal(t, booking.OutcomeNeedsRefund, tr.Outcome, "sold out: the fallback")
		v, err := db.BookingPaymentGetByCode(ctx, late.Code)
		require.NoError(t, err)
		require.Equal(t, booking.StatusCancelled, v.Status)
		require.True(t, v.NeedsRefund)
		require.Equal(t, "tx-"+late.Code, v.TransactionID)
		require.Equal(t, 0, tourQuota(t, db, tour.ID))
		requireInvariant(t, db)

		// With seats left, a late payment takes them back.
		cancel(other)
		tr = apply(other.Code, booking.EventPaid)
		require.Equal(t, booking.OutcomePaidLate, tr.Outcome)
		v, err = db.BookingPaymentGet(ctx, other.ID)
		require.NoError(t, err)
		require.Equal(t, booking.StatusPaid, v.Status)
		require.NotNil(t, v.PaidAt)
		require.False(t, v.NeedsRefund)
		require.Equal(t, 0, tourQuota(t, db, tour.ID))
		requireInvariant(t, db)

		// A refund of the flagged booking clears the flag; it held no
		// seats.
		tr = apply(late.Code, booking.EventRefunded)
		require.Equal(t, booking.OutcomeRefunded, tr.Outcome)
		v, err = db.BookingPaymentGet(ctx, late.ID)
		require.NoError(t, err)
		require.Equal(t, booking.StatusRefunded, v.Status)
		require.False(t, v.NeedsRefund)
		require.Equal(t, 0, tourQuota(t, db, tour.ID))
		requireInvariant(t, db)

		err = db.InTx(ctx, func(tx *sql.Tx) error {
			dep, err := db.TourDepartureTx(ctx, tx, tour.ID)
			require.Equal(t, "2026-12-20", dep)
			return err
		})
		require.NoError(t, err)

		// Unknown and impossible codes are not found.
		for _, code := range []string{"NOPE-1", "", "bad\x00code"} {
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := db.BookingPaymentLockTx(ctx, tx, code)
				return err
			})
			require.Equal(t, apperr.ENOTFOUND, apperr.Code(err), "%q", code)
		}
	})
}
