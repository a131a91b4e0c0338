package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Migration is one forward-only migration and whether it has been applied.
// A migration's name is its file name without ".sql"; within one set the
// names sort in the order they are applied. Every migration, whoever owns
// it (the queue's drivers, an application), is recorded under its name in
// one table, migrations.
type Migration struct {
	Name    string `json:"migration"`
	Batch   int    `json:"batch,omitempty"`
	Applied bool   `json:"applied"`
	// Replaces is the name under which an earlier layout recorded the same
	// statements, from the file's "-- replaces: NAME" line. A database that
	// has it recorded has this migration applied: migrating renames the
	// record instead of running the statements again.
	Replaces string `json:"-"`
	// SQL is the migration's statements, each ending a line with ";".
	SQL string `json:"-"`
}

// MustReadMigrations is ReadMigrations for files embedded in the binary,
// which are there once it builds: an error is a broken build, and panics.
func MustReadMigrations(fsys fs.FS, dir string) []Migration {
	ms, err := ReadMigrations(fsys, dir)
	if err != nil {
		panic(err)
	}
	return ms
}

// ReadMigrations reads the migrations in dir of fsys (every *.sql file),
// sorted by name.
func ReadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqldb: migrations in %s: %w", dir, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		m := Migration{Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)}
		for _, line := range strings.Split(m.SQL, "\n") {
			if r, ok := strings.CutPrefix(strings.TrimSpace(line), "-- replaces:"); ok {
				m.Replaces = strings.TrimSpace(r)
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// MigrationStatus returns ms, in order, marking those recorded in the
// migrations table (under their name or the name they replace) as applied.
func (db *DB) MigrationStatus(ctx context.Context, ms []Migration) ([]Migration, error) {
	applied, err := db.RecordedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	all := make([]Migration, len(ms))
	copy(all, ms)
	for i := range all {
		if b, ok := applied[all[i].Name]; ok {
			all[i].Applied, all[i].Batch = true, b
		} else if b, ok := applied[all[i].Replaces]; ok && all[i].Replaces != "" {
			all[i].Applied, all[i].Batch = true, b
		}
	}
	return all, nil
}

// PendingMigrations returns the names of the migrations of ms not yet
// applied.
func (db *DB) PendingMigrations(ctx context.Context, ms []Migration) ([]string, error) {
	ms, err := db.MigrationStatus(ctx, ms)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if !m.Applied {
			out = append(out, m.Name)
		}
	}
	return out, nil
}

func (db *DB) ensureMigrationsTable(ctx context.Context) error {
	var ddl string
	switch db.Dialect {
	case MySQL:
		ddl = `CREATE TABLE IF NOT EXISTS migrations (
  id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  migration VARCHAR(255) NOT NULL,
  batch INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`
	case PgSQL:
		ddl = `CREATE TABLE IF NOT EXISTS migrations (
  id SERIAL PRIMARY KEY,
  migration VARCHAR(255) NOT NULL,
  batch INTEGER NOT NULL
)`
	default:
		ddl = `CREATE TABLE IF NOT EXISTS migrations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  migration VARCHAR(255) NOT NULL,
  batch INTEGER NOT NULL
)`
	}
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("sqldb: create migrations table: %w", err)
	}
	return nil
}

// RecordedMigrations returns every name recorded in the migrations table,
// with its batch; none when the table does not exist yet.
func (db *DB) RecordedMigrations(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	exists, err := db.TableExists(ctx, "migrations")
	if err != nil || !exists {
		return out, err
	}
	rows, err := db.QueryContext(ctx, "SELECT migration, batch FROM migrations")
	if err != nil {
		return nil, fmt.Errorf("sqldb: read migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var batch int
		if err := rows.Scan(&name, &batch); err != nil {
			return nil, err
		}
		out[name] = batch
	}
	return out, rows.Err()
}

// TableExists reports whether the database has a table of that name.
func (db *DB) TableExists(ctx context.Context, table string) (bool, error) {
	var q string
	switch db.Dialect {
	case MySQL:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	case PgSQL:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	default:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := db.QueryRowContext(ctx, q, table).Scan(&n); err != nil {
		return false, fmt.Errorf("sqldb: look up table %s: %w", table, err)
	}
	return n > 0, nil
}

// Migrate applies every pending migration of ms in the order given,
// recording each in the migrations table under one new batch number. A
// migration recorded under the name it replaces is not run again: its
// record takes the new name. Migrate returns the names it ran.
func (db *DB) Migrate(ctx context.Context, ms []Migration) ([]string, error) {
	return db.MigrateProgress(ctx, ms, nil)
}

// MigrationStep is what MigrateProgress tells of one migration: that it
// starts, or that it has been applied and recorded.
type MigrationStep struct {
	Name    string
	Applied bool
	// Took is how long the migration ran, once Applied.
	Took time.Duration
}

// MigrateProgress is Migrate, calling progress (when not nil) as each
// migration starts and again once it is applied, so that a long run can
// be followed. A migration recorded under the name it replaces is only
// renamed, and not reported.
func (db *DB) MigrateProgress(ctx context.Context, ms []Migration, progress func(MigrationStep)) ([]string, error) {
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.Name] {
			return nil, fmt.Errorf("sqldb: migration %s is listed twice", m.Name)
		}
		seen[m.Name] = true
	}
	if err := db.ensureMigrationsTable(ctx); err != nil {
		return nil, err
	}
	recorded, err := db.RecordedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	var batch int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(batch), 0) + 1 FROM migrations").Scan(&batch); err != nil {
		return nil, fmt.Errorf("sqldb: next migration batch: %w", err)
	}
	var done []string
	for _, m := range ms {
		if _, ok := recorded[m.Name]; ok {
			continue
		}
		if _, ok := recorded[m.Replaces]; ok && m.Replaces != "" {
			if _, err := db.ExecContext(ctx, db.Rebind("UPDATE migrations SET migration = ? WHERE migration = ?"), m.Name, m.Replaces); err != nil {
				return done, fmt.Errorf("sqldb: rename migration %s to %s: %w", m.Replaces, m.Name, err)
			}
			continue
		}
		start := time.Now()
		if progress != nil {
			progress(MigrationStep{Name: m.Name})
		}
		if err := db.applyMigration(ctx, m, batch); err != nil {
			return done, err
		}
		done = append(done, m.Name)
		if progress != nil {
			progress(MigrationStep{Name: m.Name, Applied: true, Took: time.Since(start)})
		}
	}
	return done, nil
}

// applyMigration runs one migration. On SQLite and PostgreSQL the DDL and
// its record commit together; MySQL commits DDL implicitly, so there the
// record is written after the statements succeed.
func (db *DB) applyMigration(ctx context.Context, m Migration, batch int) error {
	stmts := splitStatements(m.SQL)
	run := func(ex interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		for _, s := range stmts {
			if _, err := ex.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("sqldb: migration %s: %w\n%s", m.Name, err, s)
			}
		}
		_, err := ex.ExecContext(ctx, db.Rebind("INSERT INTO migrations (migration, batch) VALUES (?, ?)"), m.Name, batch)
		return err
	}
	if db.Dialect == MySQL {
		return run(db.DB)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := run(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// splitStatements splits a migration file on semicolons that end a line.
// Lines starting with "--" are comments.
func splitStatements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			s := strings.TrimSpace(cur.String())
			out = append(out, strings.TrimSuffix(s, ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// DropAll removes every table of the database, for `migrate --fresh` and
// tests. It refuses nothing: callers check the environment first.
func (db *DB) DropAll(ctx context.Context) error {
	var tables []string
	var q string
	switch db.Dialect {
	case MySQL:
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	case PgSQL:
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	default:
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("sqldb: list tables: %w", err)
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	switch db.Dialect {
	case MySQL:
		if _, err := conn.ExecContext(ctx, "SET FOREIGN_KEY_CHECKS = 0"); err != nil {
			return err
		}
		defer conn.ExecContext(ctx, "SET FOREIGN_KEY_CHECKS = 1")
	case SQLite:
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
			return err
		}
		defer conn.ExecContext(ctx, "PRAGMA foreign_keys = ON")
	}
	for _, t := range tables {
		stmt := "DROP TABLE IF EXISTS " + QuoteIdent(db.Dialect, t)
		if db.Dialect == PgSQL {
			stmt += " CASCADE"
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqldb: drop %s: %w", t, err)
		}
	}
	return nil
}

// QuoteIdent quotes a table or column name for dialect d.
func QuoteIdent(d Dialect, s string) string {
	if d == MySQL {
		return "`" + strings.ReplaceAll(s, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
