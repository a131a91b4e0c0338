package tripinpgsql

import (
	"context"
	"embed"

	"github.com/tripintravel/tripin/queue/sqldb"
)

// migrationFiles holds the forward-only migrations of the queue's tables
// on PostgreSQL. Each is recorded in the migrations table under its file name;
// a file's "-- replaces:" line names the migration that created the same
// tables when they were migrated with Tripin's application tables, so that
// a database migrated then is not migrated again.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the migrations of the queue's tables on PostgreSQL, in
// the order they are applied. An application with tables of its own
// applies its migrations after these, with the same sqldb.DB.Migrate.
func Migrations() []sqldb.Migration {
	return sqldb.MustReadMigrations(migrationFiles, "migrations")
}

// Migrate applies the queue's pending migrations to db and returns the
// names it applied.
func Migrate(ctx context.Context, db *sqldb.DB) ([]string, error) {
	return db.Migrate(ctx, Migrations())
}
