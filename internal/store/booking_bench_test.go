package store_test

import (
	"context"
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
