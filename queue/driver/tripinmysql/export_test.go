package tripinmysql

import (
	"context"

	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// NewAsMySQL returns a driver that speaks to a MariaDB server as it speaks
// to MySQL, whose INSERT and DELETE take no RETURNING, so that the
// statements of MySQL run against the test server.
func NewAsMySQL(ctx context.Context, db *sqldb.DB) (*Driver, error) {
	d, err := New(ctx, db, Options{})
	if err != nil {
		return nil, err
	}
	return &Driver{Base: dbdriver.NewBase(db, dialect, ""), Version: d.Version}, nil
}
