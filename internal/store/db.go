// Package store holds the SQL for the application's tables, one file per
// entity, on the database handle of package sqldb (SQLite, MySQL/MariaDB or
// PostgreSQL), and applies the migrations: the queue's tables first, from
// its driver of the dialect, then the application's own.
package store

import (
	"context"

	"github.com/tripintravel/tripin/queue/sqldb"
)

// Dialect names a SQL dialect Tripin speaks (sqldb.Dialect).
type Dialect = sqldb.Dialect

// The supported dialects, spelled as DB_CONNECTION spells them.
const (
	SQLite = sqldb.SQLite
	MySQL  = sqldb.MySQL
	PgSQL  = sqldb.PgSQL
)

// OpenParams says which database to open (sqldb.OpenParams).
type OpenParams = sqldb.OpenParams

// Migration is one migration and whether it has been applied
// (sqldb.Migration).
type Migration = sqldb.Migration

// WALRestartBytes is the SQLite WAL size at which the background
// checkpointer resets the log (sqldb.WALRestartBytes).
const WALRestartBytes = sqldb.WALRestartBytes

// DB is Tripin's database: the handle of package sqldb, which the queue's
// drivers take, with the application's repositories as methods.
type DB struct {
	*sqldb.DB
}

// Open opens and pings the database. It does not migrate.
func Open(ctx context.Context, p OpenParams) (*DB, error) {
	db, err := sqldb.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	return &DB{DB: db}, nil
}

// DSNFromParts builds a DSN from DB_* parts when DB_URL is not set.
func DSNFromParts(dialect Dialect, database, host string, port int, user, password string) string {
	return sqldb.DSNFromParts(dialect, database, host, port, user, password)
}

// RedactError removes a DSN's password from an error message.
func RedactError(err error, dsn string) error { return sqldb.RedactError(err, dsn) }

// UnixNowSQL is the SQL of the database clock in whole Unix seconds.
func UnixNowSQL(d Dialect) string { return sqldb.UnixNowSQL(d) }

// Rebind turns the ? placeholders of portable SQL into $1, $2, … for
// PostgreSQL.
func Rebind(d Dialect, query string) string { return sqldb.Rebind(d, query) }

// IsRetryable reports whether err is a transient conflict that a retry of
// the same transaction can resolve.
func IsRetryable(err error) bool { return sqldb.IsRetryable(err) }

// IsDiskFull reports whether err says the database ran out of disk space;
// the API answers it with 503 "database disk is full".
func IsDiskFull(err error) bool { return sqldb.IsDiskFull(err) }

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool { return sqldb.IsUniqueViolation(err) }
