package sqldb

import (
	"context"
	"net"
	"time"
)

// Connection timeouts. A database connection whose peer vanished without a
// reset (a black-holed network, a server frozen mid-failover) must not hold
// a worker past its job leases: the engine bounds each of its own calls
// with a deadline, and these bound what nothing else does.
const (
	// dialTimeout bounds connecting.
	dialTimeout = 10 * time.Second
	// keepAliveIdle, keepAliveInterval and keepAliveCount find a dead peer
	// of an idle connection in about 30 seconds.
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	// userTimeout is how long sent data may go unacknowledged before the
	// kernel drops the connection (TCP_USER_TIMEOUT, Linux): a request
	// written to a black hole fails after this instead of after the
	// kernel's retransmissions, which take about 15 minutes.
	userTimeout = 30 * time.Second
	// mysqlReadTimeout and mysqlWriteTimeout are the MySQL driver's I/O
	// timeouts when the DSN sets none: a read waits at most this long for
	// the server's next bytes. The read timeout is long enough for the
	// slowest statement Tripin runs (an index built by a migration on a
	// large jobs table).
	mysqlReadTimeout  = 10 * time.Minute
	mysqlWriteTimeout = time.Minute
)

// dialContext connects to a database server with TCP keepalives and, where
// the platform has it, TCP_USER_TIMEOUT.
func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{
		Timeout: dialTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount,
		},
		Control: controlUserTimeout,
	}
	return d.DialContext(ctx, network, addr)
}
