package dbcopy_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// testNow is the seed's clock, with a fraction of a second, as the app's
// own clock has.
var testNow = time.Date(2026, 11, 27, 5, 30, 0, 123456000, time.UTC)

// mkUser, mkTour and book write the seed through the store, as the app
// does, so that the copy meets rows shaped the way production writes them.

func mkUser(t *testing.T, db *store.DB, email string) *booking.User {
	t.Helper()
	u := &booking.User{Name: "U " + email, Email: email, PasswordHash: "x", CreatedAt: testNow, UpdatedAt: testNow}
	require.NoError(t, db.UserCreate(context.Background(), u))
	return u
}

func mkTour(t *testing.T, db *store.DB, date string, capacity int) *booking.Tour {
	t.Helper()
	tour := &booking.Tour{Title: "Bali " + date, Destination: "Bali", DepartureDate: date, Price: 1_500_000,
		Capacity: capacity, Quota: capacity, CreatedAt: testNow, UpdatedAt: testNow}
	require.NoError(t, db.TourCreate(context.Background(), tour))
	return tour
}

func book(t *testing.T, db *store.DB, u *booking.User, tour *booking.Tour, qty int, code string) (*booking.Booking, error) {
	t.Helper()
	var b *booking.Booking
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		price, err := db.TourTakeSeatsTx(context.Background(), tx, tour.ID, qty, "2026-11-27")
		if err != nil {
			return err
		}
		b = &booking.Booking{Code: code, Status: booking.StatusPending, UserID: u.ID, TourID: tour.ID, Quantity: qty,
			UnitPrice: price, TotalAmount: price * int64(qty), ExpiresAt: testNow.Add(30 * time.Minute),
			CreatedAt: testNow, UpdatedAt: testNow}
		return db.BookingInsertTx(context.Background(), tx, b)
	})
	return b, err
}
