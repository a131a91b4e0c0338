package app

import (
	"context"
	"fmt"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

// QueueDriver returns the queue driver for db's dialect.
func QueueDriver(ctx context.Context, db *store.DB) (driver.Driver, error) {
	switch db.Dialect {
	case store.SQLite:
		d := tripinsqlite.New(db.DB, tripinsqlite.Options{})
		if db.Name == ":memory:" {
			return d, nil
		}
		// Workers of other processes on the same file (`queue work`
		// beside `serve`) hear of new jobs within milliseconds.
		return d.Listening(0), nil
	case store.MySQL:
		d, err := tripinmysql.New(ctx, db.DB, tripinmysql.Options{})
		if err != nil {
			return nil, err
		}
		// MariaDB has no notifications: a primary-key lookup every 10 ms
		// tells workers of other processes' jobs.
		return d.Listening(0), nil
	case store.PgSQL:
		return tripinpgsql.New(db.DB, tripinpgsql.Options{}), nil
	}
	return nil, fmt.Errorf("queue: no queue driver for DB_CONNECTION=%s yet", db.Dialect)
}
