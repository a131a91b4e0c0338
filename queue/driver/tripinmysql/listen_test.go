package tripinmysql_test

import (
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

func TestListener(t *testing.T) {
	open(t) // skips without a server
	drivertest.ExerciseListener(t, func(t *testing.T) (driver.Driver, driver.Driver) {
		here, there := drivertest.OpenTwice(t, sqldb.MySQL, sqldbtest.NewDSN, queuetest.Migrations(t, sqldb.MySQL))
		return newDriver(t, here).Listening(0), newDriver(t, there)
	})
}
