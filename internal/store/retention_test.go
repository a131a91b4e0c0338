package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestPruneChunksOnTies: rows sharing one time, more of them than a chunk,
// all go, chunk after chunk, and the newer row stays.
func TestPruneChunksOnTies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		now := time.Now().UTC().Truncate(time.Microsecond)
		old := now.Add(-100 * 24 * time.Hour)
		for i := range 7 {
			_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO sent_emails (booking_id, kind, message_id, recipient, sent_at) VALUES (?, 'invoice', 'm', 'r', ?)`), i+1, old)
			require.NoError(t, err)
		}
		_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO sent_emails (booking_id, kind, message_id, recipient, sent_at) VALUES (99, 'invoice', 'm', 'r', ?)`), now)
		require.NoError(t, err)

		n, err := db.SentEmailPrune(ctx, store.PruneParams{Before: now.Add(-90 * 24 * time.Hour), ChunkSize: 2})
		require.NoError(t, err)
		require.Equal(t, int64(7), n)
		var left []int64
		rows, err := db.QueryContext(ctx, "SELECT booking_id FROM sent_emails")
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			left = append(left, id)
		}
		require.Equal(t, []int64{99}, left)
	})
}

// TestIdempotencyKeyPruneSkipsPendingBookings: one key at a time, the
// keys of pending bookings are stepped over and kept, whatever their age,
// and every other old key goes.
func TestIdempotencyKeyPruneSkipsPendingBookings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		now := time.Now().UTC().Truncate(time.Microsecond)
		u := &booking.User{Name: "A", Email: "a@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
		require.NoError(t, db.UserCreate(ctx, u))
		tour := &booking.Tour{Title: "T", Destination: "D", DepartureDate: "2035-01-01", Price: 1, Capacity: 10, Quota: 10, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, db.TourCreate(ctx, tour))
		svc := booking.NewService(booking.ServiceParams{Store: db, Expiry: time.Hour})
		var pending []int64
		for range 2 {
			res, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 1})
			require.NoError(t, err)
			pending = append(pending, res.Booking.ID)
		}
		// Keys 0..5, a day apart and all older than the cutoff; 1 and 4
		// belong to the pending bookings.
		for i := range 6 {
			rec := &booking.IdempotencyRecord{UserID: u.ID, Key: fmt.Sprint("k", i), RequestHash: "h", StatusCode: 201,
				Body: []byte("{}"), CreatedAt: now.Add(-time.Duration(10-i) * 24 * time.Hour)}
			switch i {
			case 1:
				rec.BookingID = pending[0]
			case 4:
				rec.BookingID = pending[1]
			}
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return db.IdempotencyInsertTx(ctx, tx, rec) }))
		}
		n, err := db.IdempotencyKeyPrune(ctx, store.PruneParams{Before: now.Add(-time.Hour), ChunkSize: 1})
		require.NoError(t, err)
		require.Equal(t, int64(4), n)
		for i := range 6 {
			_, err := db.IdempotencyGet(ctx, u.ID, fmt.Sprint("k", i))
			if i == 1 || i == 4 {
				require.NoError(t, err, "the key of a pending booking stays")
			} else {
				require.Error(t, err, "key %d is pruned", i)
			}
		}
	})
}
