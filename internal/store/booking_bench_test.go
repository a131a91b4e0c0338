package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// BenchmarkBook measures one booking transaction (conditional update,
// insert, commit) through booking.Service on each backend, from parallel
// goroutines. `tripin bench booking` measures the same over HTTP.
func BenchmarkBook(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			u := &booking.User{Name: "Bench", Email: "bench@example.com", PasswordHash: "!", CreatedAt: now, UpdatedAt: now}
			if err := db.UserCreate(ctx, u); err != nil {
				b.Fatal(err)
			}
			var tours []int64
			for i := 0; i < 16; i++ {
				t := &booking.Tour{Title: "T", Destination: "Bali", DepartureDate: now.AddDate(0, 1, 0).Format(booking.DateLayout),
					Price: 1000, Capacity: booking.MaxTourCapacity, Quota: booking.MaxTourCapacity, CreatedAt: now, UpdatedAt: now}
				if err := db.TourCreate(ctx, t); err != nil {
					b.Fatal(err)
				}
				tours = append(tours, t.ID)
			}
			svc := booking.NewService(booking.ServiceParams{Store: db, Expiry: 30 * time.Minute, MaxQuantity: 10})
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tours[i%len(tours)], Quantity: 1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if bad, err := db.TourCheckInvariant(ctx); err != nil || len(bad) > 0 {
				b.Fatalf("invariant: %v %v", bad, err)
			}
		})
	}
}

var _ = store.SQLite

// BenchmarkBookingCreateClock measures what taking a booking's times from
// the database clock costs, one booking transaction at a time. Each
// iteration writes one booking the way it was written before
// ("local": the seat update, then the insert with times from the web
// server's clock) and one with BookingCreateTx ("db": times from the
// database, returned by the seat update on SQLite, read with one more
// statement on MySQL), alternately, so a busy machine slows both alike;
// it reports the median of each and their ratio. PostgreSQL computes the
// times inside its single statement and is measured as "db" only.
func BenchmarkBookingCreateClock(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			u := &booking.User{Name: "Bench", Email: "bench@example.com", PasswordHash: "!", CreatedAt: now, UpdatedAt: now}
			if err := db.UserCreate(ctx, u); err != nil {
				b.Fatal(err)
			}
			tour := &booking.Tour{Title: "T", Destination: "Bali", DepartureDate: now.AddDate(0, 1, 0).Format(booking.DateLayout),
				Price: 1000, Capacity: booking.MaxTourCapacity, Quota: booking.MaxTourCapacity, CreatedAt: now, UpdatedAt: now}
			if err := db.TourCreate(ctx, tour); err != nil {
				b.Fatal(err)
			}
			today := now.Format(booking.DateLayout)
			seq := 0
			newBooking := func() *booking.Booking {
				seq++
				return &booking.Booking{Code: fmt.Sprintf("TRP-BENCH-%d", seq), Status: booking.StatusPending,
					UserID: u.ID, TourID: tour.ID, Quantity: 1}
			}
			local := func() error {
				bk := newBooking()
				return db.InTx(ctx, func(tx *sql.Tx) error {
					price, err := db.TourTakeSeatsTx(ctx, tx, bk.TourID, bk.Quantity, today)
					if err != nil {
						return err
					}
					t := time.Now().UTC().Truncate(time.Microsecond)
					bk.UnitPrice, bk.TotalAmount = price, price
					bk.CreatedAt, bk.UpdatedAt, bk.ExpiresAt = t, t, t.Add(30*time.Minute)
					return db.BookingInsertTx(ctx, tx, bk)
				})
			}
			dbClock := func() error {
				bk := newBooking()
				bk.UnitPrice, bk.TotalAmount = tour.Price, tour.Price
				return db.InTx(ctx, func(tx *sql.Tx) error { return db.BookingCreateTx(ctx, tx, bk, today, 30*time.Minute, nil) })
			}
			timed := func(f func() error, into *[]time.Duration) {
				start := time.Now()
				if err := f(); err != nil {
					b.Fatal(err)
				}
				*into = append(*into, time.Since(start))
			}
			var locals, dbs []time.Duration
			b.ResetTimer()
			for i := range b.N {
				// Alternate which goes first, so neither always follows the
				// other's commit.
				if d == store.PgSQL {
					timed(dbClock, &dbs)
				} else if i%2 == 0 {
					timed(local, &locals)
					timed(dbClock, &dbs)
				} else {
					timed(dbClock, &dbs)
					timed(local, &locals)
				}
			}
			b.StopTimer()
			median := func(ds []time.Duration) float64 {
				slices.Sort(ds)
				return float64(ds[len(ds)/2].Nanoseconds())
			}
			b.ReportMetric(median(dbs), "db-ns/op")
			if len(locals) > 0 {
				b.ReportMetric(median(locals), "local-ns/op")
				b.ReportMetric(median(dbs)/median(locals), "db/local")
			}
		})
	}
}
