package tripinsqlite_test

import (
	"fmt"
	"testing"

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/drivertest"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	drivertest.Exercise(t, func(t *testing.T) (driver.Driver, *store.DB) {
		db := storetest.Open(t, store.SQLite)
		return tripinsqlite.New(db, tripinsqlite.Options{}), db
	})
}

// BenchmarkDrain: go test -run '^$' -bench Drain ./internal/queue/driver/tripinsqlite
func BenchmarkDrain(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			db := storetest.Open(b, store.SQLite)
			drivertest.BenchmarkDrain(b, tripinsqlite.New(db, tripinsqlite.Options{}), 50000, batch, 2)
		})
	}
}
