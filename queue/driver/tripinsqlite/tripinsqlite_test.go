package tripinsqlite_test

import (
	"fmt"
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

func TestConformance(t *testing.T) {
	drivertest.Exercise(t, func(t *testing.T) (driver.Driver, *sqldb.DB) {
		db := queuetest.OpenDB(t, sqldb.SQLite)
		return tripinsqlite.New(db, tripinsqlite.Options{}), db
	})
}

// BenchmarkDrain: go test -run '^$' -bench Drain ./queue/driver/tripinsqlite
func BenchmarkDrain(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			db := queuetest.OpenDB(b, sqldb.SQLite)
			drivertest.BenchmarkDrain(b, tripinsqlite.New(db, tripinsqlite.Options{}), 50000, batch, 2)
		})
	}
}
