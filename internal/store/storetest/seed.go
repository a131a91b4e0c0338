package storetest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// SeedNow is the seed's clock, with a fraction of a second, as the app's
// own clock has.
var SeedNow = time.Date(2026, 11, 27, 5, 30, 0, 123456000, time.UTC)

// SeedUser, SeedTour and SeedBooking write rows through the store, as the
// app does, so that a test meets rows shaped the way production writes
// them.

// SeedUser creates a user with email.
func SeedUser(t testing.TB, db *store.DB, email string) *booking.User {
	t.Helper()
	u := &booking.User{Name: "U " + email, Email: email, PasswordHash: "x", CreatedAt: SeedNow, UpdatedAt: SeedNow}
	if err := db.UserCreate(context.Background(), u); err != nil {
		t.Fatalf("storetest: create user %s: %v", email, err)
	}
	return u
}

// SeedTour creates a tour departing on date with capacity seats, all free.
func SeedTour(t testing.TB, db *store.DB, date string, capacity int) *booking.Tour {
	t.Helper()
	tour := &booking.Tour{Title: "Bali " + date, Destination: "Bali", DepartureDate: date, Price: 1_500_000,
		Capacity: capacity, Quota: capacity, CreatedAt: SeedNow, UpdatedAt: SeedNow}
	if err := db.TourCreate(context.Background(), tour); err != nil {
		t.Fatalf("storetest: create tour: %v", err)
	}
	return tour
}

// SeedBooking books qty seats of tour for u under code, taking the seats
// and inserting the booking in one transaction. Its error is the store's
// (sold out, unknown tour), for the test to check.
func SeedBooking(t testing.TB, db *store.DB, u *booking.User, tour *booking.Tour, qty int, code string) (*booking.Booking, error) {
	t.Helper()
	var b *booking.Booking
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		price, err := db.TourTakeSeatsTx(context.Background(), tx, tour.ID, qty, "2026-11-27")
		if err != nil {
			return err
		}
		b = &booking.Booking{Code: code, Status: booking.StatusPending, UserID: u.ID, TourID: tour.ID, Quantity: qty,
			UnitPrice: price, TotalAmount: price * int64(qty), ExpiresAt: SeedNow.Add(30 * time.Minute),
			CreatedAt: SeedNow, UpdatedAt: SeedNow}
		return db.BookingInsertTx(context.Background(), tx, b)
	})
	return b, err
}
