package tripinsqlite_test

import (
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

func TestListener(t *testing.T) {
	drivertest.ExerciseListener(t, func(t *testing.T) (driver.Driver, driver.Driver) {
		here, there := drivertest.OpenTwice(t, sqldb.SQLite, sqldbtest.NewDSN, queuetest.Migrations(t, sqldb.SQLite))
		return tripinsqlite.New(here, tripinsqlite.Options{}).Listening(0), tripinsqlite.New(there, tripinsqlite.Options{})
	})
}
