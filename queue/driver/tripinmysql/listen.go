package tripinmysql

import (
	"context"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// DefaultListenInterval is how often a listening driver looks for jobs
// inserted by other processes.
const DefaultListenInterval = 10 * time.Millisecond

// Listening returns d with driver.Listener: workers learn of a job another
// process inserted within about an interval (DefaultListenInterval when
// zero) instead of at their next claim poll. MariaDB has no notifications,
// so the listener reads the newest job id, a primary-key lookup that
// touches one index page, on a connection it holds while it runs, and
// reads the queues of the new jobs only when that id moved. The engine
// then polls with claims only every second, for delayed jobs and expired
// leases, so an idle worker costs the server one such lookup per interval
// instead of a claim transaction every 25–50 ms.
func (d *Driver) Listening(interval time.Duration) driver.Driver {
	if interval <= 0 {
		interval = DefaultListenInterval
	}
	return &listeningDriver{Driver: d, l: &dbdriver.PollListener{Pool: d.DB.DB, Interval: interval, UnixNow: now}}
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
