// Package queuetest helps tests of the queue engine and of code that
// dispatches jobs: a queue driver on a fresh database of each dialect, and
// a clock the test moves by hand.
package queuetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// Driver returns a queue driver on a fresh, migrated database of dialect d,
// and the database. It skips the test when d has no driver yet.
func Driver(t testing.TB, d sqldb.Dialect) (driver.Driver, *sqldb.DB) {
	t.Helper()
	db := OpenDB(t, d)
	switch d {
	case sqldb.SQLite:
		return tripinsqlite.New(db, tripinsqlite.Options{}), db
	case sqldb.PgSQL:
		return tripinpgsql.New(db, tripinpgsql.Options{}), db
	case sqldb.MySQL:
		drv, err := tripinmysql.New(context.Background(), db, tripinmysql.Options{})
		if err != nil {
			t.Fatalf("queuetest: %v", err)
		}
		return drv, db
	}
	t.Skipf("queuetest: no queue driver for %s", d)
	return nil, nil
}

// OpenDB creates a fresh database of dialect d for this test with the
// queue's tables, and returns it open; the database is dropped when the
// test ends.
func OpenDB(t testing.TB, d sqldb.Dialect) *sqldb.DB {
	t.Helper()
	return sqldbtest.Open(t, d, Migrations(t, d))
}

// Migrations returns the migrations of the queue's tables in dialect d.
func Migrations(t testing.TB, d sqldb.Dialect) []sqldb.Migration {
	t.Helper()
	switch d {
	case sqldb.SQLite:
		return tripinsqlite.Migrations()
	case sqldb.MySQL:
		return tripinmysql.Migrations()
	case sqldb.PgSQL:
		return tripinpgsql.Migrations()
	}
	t.Fatalf("queuetest: no migrations for %s", d)
	return nil
}

// Clock is a clock that only moves when told to. Its zero value is not
// usable; call NewClock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to now, truncated to the second like the
// jobs table's times.
func NewClock(now time.Time) *Clock { return &Clock{now: now.Truncate(time.Second)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
