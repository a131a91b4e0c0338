package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestBookingCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)

		c, err := db.BookingCounts(ctx)
		require.NoError(t, err)
		require.Zero(t, c.Created)
		require.Zero(t, c.Paid)
		require.Zero(t, c.Expired)
		require.Empty(t, c.ByStatus)

		u := mkUser(t, db, "counts@example.com")
		tour := mkTour(t, db, "2026-12-24", 20)
		var ids []int64
		for i := range 6 {
			b, err := book(t, db, u, tour, 1, fmt.Sprintf("TRP-COUNT-%d", i))
			require.NoError(t, err)
			ids = append(ids, b.ID)
		}
		setPaid := func(id int64, status booking.Status) {
			_, err := db.ExecContext(ctx, db.Rebind("UPDATE bookings SET status = ?, paid_at = ? WHERE id = ?"), string(status), testNow, id)
			require.NoError(t, err)
		}
		release := func(id int64, status booking.Status) {
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := db.BookingReleaseTx(ctx, tx, id, status, testNow)
				return err
			}))
		}
		setPaid(ids[0], booking.StatusPaid)
		// A refunded booking was paid once: it still counts as paid.
		setPaid(ids[1], booking.StatusRefunded)
		release(ids[2], booking.StatusExpired)
		release(ids[3], booking.StatusExpired)
		release(ids[4], booking.StatusCancelled)

		c, err = db.BookingCounts(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(6), c.Created)
		require.Equal(t, int64(2), c.Paid)
		require.Equal(t, int64(2), c.Expired)
		require.Equal(t, map[booking.Status]int64{
			booking.StatusPending: 1, booking.StatusPaid: 1, booking.StatusRefunded: 1,
			booking.StatusExpired: 2, booking.StatusCancelled: 1,
		}, c.ByStatus)
	})
}
