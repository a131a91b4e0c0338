package tripinsqlite_test

import (
	"testing"

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/drivertest"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestListener(t *testing.T) {
	drivertest.ExerciseListener(t, func(t *testing.T) (driver.Driver, driver.Driver) {
		here, there := drivertest.OpenTwice(t, store.SQLite, storetest.NewDSN)
		return tripinsqlite.New(here, tripinsqlite.Options{}).Listening(0), tripinsqlite.New(there, tripinsqlite.Options{})
	})
}
