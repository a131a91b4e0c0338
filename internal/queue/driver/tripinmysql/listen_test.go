package tripinmysql_test

import (
	"testing"

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/drivertest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestListener(t *testing.T) {
	open(t) // skips without a server
	drivertest.ExerciseListener(t, func(t *testing.T) (driver.Driver, driver.Driver) {
		here, there := drivertest.OpenTwice(t, store.MySQL, storetest.NewDSN)
		return newDriver(t, here).Listening(0), newDriver(t, there)
	})
}
