package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestDashboardBookings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "dash@example.com")
		tour := mkTour(t, db, "2026-12-20", 40)
		mk := func(code string) int64 {
			b, err := book(t, db, u, tour, 2, code)
			require.NoError(t, err)
			return b.ID
		}
		exec := func(q string, args ...any) {
			t.Helper()
			_, err := db.ExecContext(ctx, db.Rebind(q), args...)
			require.NoError(t, err)
		}
		pending := mk("TRP-DASH-1")
		paid := mk("TRP-DASH-2")
		exec(`UPDATE bookings SET status = 'paid', paid_at = ?, transaction_id = 'txn-2' WHERE id = ?`, testNow.Add(time.Minute), paid)
		expired := mk("TRP-DASH-3")
		exec(`UPDATE bookings SET status = 'expired', expired_at = ? WHERE id = ?`, testNow.Add(2*time.Minute), expired)
		cancelled := mk("TRP-DASH-4")
		exec(`UPDATE bookings SET status = 'cancelled', cancelled_at = ? WHERE id = ?`, testNow.Add(3*time.Minute), cancelled)
		// An old booking whose payment came after it expired: not today's,
		// but it must be counted and listed until it is refunded.
		late := mk("TRP-DASH-5")
		old := testNow.Add(-72 * time.Hour)
		exec(`UPDATE bookings SET status = 'expired', created_at = ?, expired_at = ?, needs_refund = ? WHERE id = ?`, old, old, true, late)
		// A refunded one is done: neither counted nor listed.
		refunded := mk("TRP-DASH-6")
		exec(`UPDATE bookings SET status = 'refunded', created_at = ?, needs_refund = ? WHERE id = ?`, old, true, refunded)

		c, err := db.DashboardBookingCounts(ctx, testNow.Add(-time.Hour))
		require.NoError(t, err)
		require.Equal(t, store.DashboardCounts{
			Created: 4, Pending: 1, Paid: 1, PaidAmount: 2 * 1_500_000, Expired: 1, Cancelled: 1, NeedsRefund: 1,
		}, *c)

		// Nothing happened after the last change.
		c, err = db.DashboardBookingCounts(ctx, testNow.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, store.DashboardCounts{NeedsRefund: 1}, *c)

		list, err := db.DashboardBookingsSince(ctx, testNow.Add(-time.Hour), 10)
		require.NoError(t, err)
		var got []int64
		for _, b := range list {
			got = append(got, b.ID)
		}
		require.Equal(t, []int64{cancelled, expired, paid, pending}, got)
		require.Equal(t, "paid", list[2].Status)
		require.Equal(t, "txn-2", list[2].TransactionID)
		require.NotNil(t, list[2].PaidAt)
		require.True(t, list[2].PaidAt.Equal(testNow.Add(time.Minute)), "paid_at %v", list[2].PaidAt)
		require.Equal(t, "dash@example.com", list[0].CustomerEmail)
		require.Equal(t, tour.Title, list[0].TourTitle)
		require.Nil(t, list[0].PaidAt)

		list, err = db.DashboardBookingsSince(ctx, testNow.Add(-time.Hour), 1)
		require.NoError(t, err)
		require.Len(t, list, 1)

		refund, err := db.DashboardBookingsNeedingRefund(ctx, 10)
		require.NoError(t, err)
		require.Len(t, refund, 1)
		require.Equal(t, late, refund[0].ID)
		require.True(t, refund[0].NeedsRefund)
		require.Equal(t, "TRP-DASH-5", refund[0].Code)
	})
}

func TestFailedJobsSince(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		now, err := db.Now(ctx)
		require.NoError(t, err)
		for i, age := range []time.Duration{time.Minute, 6 * 24 * time.Hour, 8 * 24 * time.Hour} {
			// Written the way the queue drivers write failed_at.
			var at any = now.Add(-age).UTC()
			if d == store.SQLite {
				at = now.Add(-age).UTC().Format(time.DateTime)
			}
			_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (?, 'database', 'default', '{}', 'boom', ?)`), "uuid-"+string(rune('a'+i)), at)
			require.NoError(t, err)
		}
		n, err := db.FailedJobsSince(ctx, 7*24*time.Hour)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = db.FailedJobsSince(ctx, time.Hour)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestTokenExpireAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "exp@example.com")
		require.NoError(t, db.TokenCreate(ctx, u.ID, "dashboard", "hash-1", testNow, time.Time{}))
		require.NoError(t, db.TokenExpireAt(ctx, "hash-1", testNow.Add(time.Hour)))
		_, err := db.TokenUser(ctx, "hash-1", testNow.Add(59*time.Minute), testNow)
		require.NoError(t, err)
		_, err = db.TokenUser(ctx, "hash-1", testNow.Add(61*time.Minute), testNow)
		require.True(t, apperr.IsNotFound(err), "expired: %v", err)
		require.True(t, apperr.IsNotFound(db.TokenExpireAt(ctx, "no-such-hash", testNow)))
	})
}

// TestTokenRevocation: TokenDeleteUser revokes every token of one user
// only; UserSetPassword changes the hash and revokes every token of the
// user together; a token without an expiry authenticates only when created
// after issuedAfter.
func TestTokenRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		a, b := mkUser(t, db, "a@example.com"), mkUser(t, db, "b@example.com")
		for i, h := range []string{"a1", "a2", "a3"} {
			require.NoError(t, db.TokenCreate(ctx, a.ID, "login", h, testNow, testNow.Add(time.Duration(i+1)*time.Hour)))
		}
		require.NoError(t, db.TokenCreate(ctx, b.ID, "login", "b1", testNow, testNow.Add(time.Hour)))
		n, err := db.TokenDeleteUser(ctx, a.ID)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		_, err = db.TokenUser(ctx, "a1", testNow, testNow)
		require.True(t, apperr.IsNotFound(err))
		_, err = db.TokenUser(ctx, "b1", testNow, testNow)
		require.NoError(t, err)

		require.NoError(t, db.UserSetPassword(ctx, b.ID, "$2a$04$new-hash", testNow.Add(time.Minute)))
		u, err := db.UserGet(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, "$2a$04$new-hash", u.PasswordHash)
		_, err = db.TokenUser(ctx, "b1", testNow, testNow)
		require.True(t, apperr.IsNotFound(err), "the password change revoked it")
		require.True(t, apperr.IsNotFound(db.UserSetPassword(ctx, b.ID+1000, "x", testNow)))

		require.NoError(t, db.TokenCreate(ctx, a.ID, "legacy", "l1", testNow, time.Time{}))
		_, err = db.TokenUser(ctx, "l1", testNow.Add(time.Hour), testNow.Add(-time.Minute))
		require.NoError(t, err, "created after issuedAfter")
		_, err = db.TokenUser(ctx, "l1", testNow.Add(time.Hour), testNow.Add(time.Minute))
		require.True(t, apperr.IsNotFound(err), "created before issuedAfter")
	})
}
