package dbdriver

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// The operator's storage (driver.Admin) is written once for the three SQL
// dialects: the few expressions that differ come from the helpers below,
// keyed by the store's dialect, so that every driver embedding Base gets
// Admin without code of its own.
var _ driver.Admin = (*Base)(nil)

// NewAdmin returns the operator's storage on db without the claim and
// insert statements of a full driver: what the `queue failed`, `queue
// stats` … commands need.
func NewAdmin(db *sqldb.DB) driver.Admin {
	d := &Dialect{Store: db.Dialect, UnixNow: sqldb.UnixNowSQL(db.Dialect)}
	return NewBase(db, d, "database")
}

func forUpdate(d sqldb.Dialect) string {
	if d == sqldb.SQLite {
		return "" // the store's transactions are BEGIN IMMEDIATE: one writer
	}
	return " FOR UPDATE"
}

// timestampArg turns t into a parameter comparable with failed_jobs.failed_at.
func timestampArg(d sqldb.Dialect, t time.Time) any {
	if d == sqldb.SQLite {
		return t.UTC().Format(time.DateTime)
	}
	return t.UTC()
}

func (b *Base) d() sqldb.Dialect   { return b.DB.Dialect }
func (b *Base) q(s string) string  { return b.DB.Rebind(s) }
func (b *Base) nowExpr() string    { return sqldb.UnixNowSQL(b.d()) }
func (b *Base) keyCol() string     { return quoteKey(b.d()) }
func (b *Base) reader() *sql.DB    { return b.DB.Read }
func placeholders(n int) string    { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// cutoff is the database clock minus age.
func (b *Base) cutoff(ctx context.Context, age time.Duration) (time.Time, error) {
	now, err := b.DB.Now(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-age), nil
}

func (b *Base) exec(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := Retry(ctx, func() error {
		res, err := b.DB.ExecContext(ctx, b.q(query), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func (b *Base) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := b.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
