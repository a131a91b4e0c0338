package store

import (
	"context"
	"embed"
	"fmt"
	"path"

	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// migrationFiles holds the application's forward-only migrations of every
// dialect, one folder per dialect. Every dialect has the same names. The
// queue's tables are not among them: each queue driver ships its own.
//
//go:embed migrations
var migrationFiles embed.FS

// AllMigrations lists every migration of dialect d in the order they are
// applied: the queue driver's first, then the application's.
func AllMigrations(d Dialect) ([]Migration, error) {
	var queue []Migration
	switch d {
	case SQLite:
		queue = tripinsqlite.Migrations()
	case MySQL:
		queue = tripinmysql.Migrations()
	case PgSQL:
		queue = tripinpgsql.Migrations()
	default:
		return nil, fmt.Errorf("store: migrations for %s: unknown dialect", d)
	}
	app, err := sqldb.ReadMigrations(migrationFiles, path.Join("migrations", string(d)))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return append(queue, app...), nil
}

// Migrations lists every migration of db's dialect in order, marking those
// recorded in the migrations table as applied.
func (db *DB) Migrations(ctx context.Context) ([]Migration, error) {
	all, err := AllMigrations(db.Dialect)
	if err != nil {
		return nil, err
	}
	return db.MigrationStatus(ctx, all)
}

// Pending returns the names of migrations not yet applied.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	all, err := AllMigrations(db.Dialect)
	if err != nil {
		return nil, err
	}
	return db.PendingMigrations(ctx, all)
}

// Migrate applies every pending migration in order, recording each in the
// migrations table under one new batch number. It returns the names applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	all, err := AllMigrations(db.Dialect)
	if err != nil {
		return nil, err
	}
	return db.DB.Migrate(ctx, all)
}

// MigrateProgress is Migrate, calling progress (when not nil) as each
// migration starts and once it is applied (sqldb.DB.MigrateProgress).
func (db *DB) MigrateProgress(ctx context.Context, progress func(sqldb.MigrationStep)) ([]string, error) {
	all, err := AllMigrations(db.Dialect)
	if err != nil {
		return nil, err
	}
	return db.DB.MigrateProgress(ctx, all, progress)
}
