package tripinpgsql_test

import (
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestListener runs the listener checks the polling drivers pass against
// LISTEN/NOTIFY, so that all three wake workers the same way.
func TestListener(t *testing.T) {
	open(t) // skips without a server
	drivertest.ExerciseListener(t, func(t *testing.T) (driver.Driver, driver.Driver) {
		here, there := drivertest.OpenTwice(t, sqldb.PgSQL, sqldbtest.NewDSN, queuetest.Migrations(t, sqldb.PgSQL))
		return tripinpgsql.New(here, tripinpgsql.Options{}), tripinpgsql.New(there, tripinpgsql.Options{})
	})
}
