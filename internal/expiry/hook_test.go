package expiry

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestOnExpiredTx: the hook runs inside each transaction that expires
// bookings, with exactly the bookings it expired, for the sweep and for
// one booking; its error rolls the expiry back.
func TestOnExpiredTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFixture(t, d)
		tour := f.tour(t, 20)
		due := []int64{f.book(t, f.old, tour, 1).ID, f.book(t, f.old, tour, 2).ID}
		fresh := f.book(t, f.fresh, tour, 1)
		var (
			seen []int64
			fail error
		)
		deps := Deps{DB: f.db, Expiry: holdFor, ChunkSize: 1, OnExpiredTx: func(ctx context.Context, tx *sql.Tx, done []Expired) error {
			// It sees its bookings expired, in its own transaction.
			for _, e := range done {
				var st string
				require.NoError(t, tx.QueryRowContext(ctx, f.db.Rebind("SELECT status FROM bookings WHERE id = ?"), e.ID).Scan(&st))
				require.Equal(t, "expired", st)
				seen = append(seen, e.ID)
			}
			return fail
		}}
		x, err := New(deps)
		require.NoError(t, err)

		fail = errors.New("hook failed")
		_, err = x.Sweep(ctx)
		require.ErrorIs(t, err, fail)
		require.Equal(t, "pending", status(t, f.db, due[0]), "rolled back with the hook")
		seen, fail = nil, nil

		res, err := x.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, res.Expired)
		slices.Sort(seen)
		require.Equal(t, due, seen, "each due booking once, and not the fresh one")
		require.Equal(t, "pending", status(t, f.db, fresh.ID))

		seen = nil
		ageBooking(t, f.db, fresh, 2*holdFor)
		ok, err := x.ExpireOne(ctx, fresh.ID)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []int64{fresh.ID}, seen)
		seen = nil
		ok, err = x.ExpireOne(ctx, fresh.ID)
		require.NoError(t, err)
		require.False(t, ok)
		require.Empty(t, seen, "nothing expired, no hook")
		requireInvariant(t, f.db)
	})
}
