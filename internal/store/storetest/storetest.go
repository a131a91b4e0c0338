// Package storetest gives tests a fresh, migrated database of each dialect:
// SQLite always, MySQL/MariaDB when TRIPIN_TEST_MYSQL_DSN is set and
// PostgreSQL when TRIPIN_TEST_PGSQL_DSN is set. Every call creates its own
// database, dropped when the test ends, so tests never see each other's rows.
package storetest

import (
	"context"
	"testing"

	"github.com/tripintravel/tripin/queue/driver"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// The environment variables naming the server test DSNs.
const (
	MySQLEnv = sqldbtest.MySQLEnv
	PgSQLEnv = sqldbtest.PgSQLEnv
)

// Dialects returns the dialects this test run can use: always SQLite, and
// MySQL and PostgreSQL when their DSNs are set.
func Dialects() []store.Dialect { return sqldbtest.Dialects() }

// Each runs fn as a subtest for every available dialect.
func Each(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	sqldbtest.Each(t, fn)
}

// Open creates a fresh, migrated database of dialect d for this test and
// returns it open; the database is dropped when the test ends.
func Open(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	dsn := NewDSN(t, d)
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: dsn})
	if err != nil {
		t.Fatalf("storetest: open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("storetest: migrate %s: %v", d, err)
	}
	return db
}

// NewDSN creates an empty database of dialect d (a file in the test's temp
// dir for SQLite) and returns its DSN. The database is dropped at cleanup.
func NewDSN(t testing.TB, d store.Dialect) string {
	t.Helper()
	return sqldbtest.NewDSN(t, d)
}

// Driver returns the queue driver of dialect d on a fresh, migrated
// database, and the database.
func Driver(t testing.TB, d store.Dialect) (driver.Driver, *store.DB) {
	t.Helper()
	db := Open(t, d)
	switch d {
	case store.SQLite:
		return tripinsqlite.New(db.DB, tripinsqlite.Options{}), db
	case store.PgSQL:
		return tripinpgsql.New(db.DB, tripinpgsql.Options{}), db
	case store.MySQL:
		drv, err := tripinmysql.New(context.Background(), db.DB, tripinmysql.Options{})
		if err != nil {
			t.Fatalf("storetest: %v", err)
		}
		return drv, db
	}
	t.Fatalf("storetest: no queue driver for %s", d)
	return nil, nil
}
