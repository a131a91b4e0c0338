package tripinsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// DefaultListenInterval is how often a listening driver asks SQLite
// whether anything was committed.
const DefaultListenInterval = 5 * time.Millisecond

// Listening returns d with driver.Listener: workers of other processes on
// the same database file (a `queue work` beside `serve`, say) learn of a
// job inserted here within a few milliseconds instead of at their next
// poll. SQLite has no notifications, but `PRAGMA data_version` changes
// whenever another connection commits, and reading it costs no I/O (it is
// in the WAL index in shared memory), so the listener reads it every
// interval (DefaultListenInterval when zero) and, when it changed, looks
// at the jobs inserted since its last look. It holds one connection of the
// read pool while it runs. Not for ":memory:" databases, which other
// connections cannot see.
func (d *Driver) Listening(interval time.Duration) driver.Driver {
	if interval <= 0 {
		interval = DefaultListenInterval
	}
	dataVersion := func(ctx context.Context, conn *sql.Conn) (int64, error) {
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			return 0, fmt.Errorf("tripinsqlite: listen: data_version: %w", err)
		}
		return v, nil
	}
	return &listeningDriver{Driver: d, l: &dbdriver.PollListener{Pool: d.DB.Read, Interval: interval, UnixNow: now, Version: dataVersion}}
}

type listeningDriver struct {
	*Driver
	l *dbdriver.PollListener
}

var _ driver.Listener = (*listeningDriver)(nil)

// Listen calls fn with the queue of each job available now that was
// inserted since the previous look, once per queue and look, until ctx
// ends.
func (d *listeningDriver) Listen(ctx context.Context, fn func(queue string)) error {
	return d.l.Listen(ctx, fn)
}
