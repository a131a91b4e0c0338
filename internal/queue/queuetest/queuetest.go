// Package queuetest helps tests of the queue engine and of code that
// dispatches jobs: a queue driver on a fresh database of each dialect, and
// a clock the test moves by hand.
package queuetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// Driver returns a queue driver on a fresh, migrated database of dialect d,
// and the database. It skips the test when d has no driver yet.
func Driver(t testing.TB, d store.Dialect) (driver.Driver, *store.DB) {
	t.Helper()
	db := storetest.Open(t, d)
	switch d {
	case store.SQLite:
		return tripinsqlite.New(db, tripinsqlite.Options{}), db
	case store.PgSQL:
		return tripinpgsql.New(db, tripinpgsql.Options{}), db
	case store.MySQL:
		drv, err := tripinmysql.New(context.Background(), db, tripinmysql.Options{})
		if err != nil {
			t.Fatalf("queuetest: %v", err)
		}
		return drv, db
	}
	t.Skipf("queuetest: no queue driver for %s", d)
	return nil, nil
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
