package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// migrationFiles holds the forward-only migrations of every dialect, one
// folder per dialect. A migration's name is its file name without ".sql";
// the names sort in the order they are applied, and every dialect has the
// same names.
//
//go:embed migrations
var migrationFiles embed.FS

// Migration is one embedded migration and whether it has been applied.
type Migration struct {
	Name    string `json:"migration"`
	Batch   int    `json:"batch,omitempty"`
	Applied bool   `json:"applied"`
	sql     string
}

// Migrations lists the embedded migrations of db's dialect in order,
// marking those recorded in the migrations table as applied.
func (db *DB) Migrations(ctx context.Context) ([]Migration, error) {
	all, err := embeddedMigrations(db.Dialect)
	if err != nil {
		return nil, err
	}
	applied, err := db.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if b, ok := applied[all[i].Name]; ok {
			all[i].Applied, all[i].Batch = true, b
		}
	}
	return all, nil
}

// Pending returns the names of migrations not yet applied.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	ms, err := db.Migrations(ctx)
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

func embeddedMigrations(d Dialect) ([]Migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations for %s: %w", d, err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
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
		return fmt.Errorf("store: create migrations table: %w", err)
	}
	return nil
}

func (db *DB) appliedMigrations(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	exists, err := db.tableExists(ctx, "migrations")
	if err != nil || !exists {
		return out, err
	}
	rows, err := db.QueryContext(ctx, "SELECT migration, batch FROM migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
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

func (db *DB) tableExists(ctx context.Context, table string) (bool, error) {
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
		return false, fmt.Errorf("store: look up table %s: %w", table, err)
	}
	return n > 0, nil
}

// Migrate applies every pending migration in order, recording each in the
// migrations table under one new batch number. It returns the names applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	if err := db.ensureMigrationsTable(ctx); err != nil {
		return nil, err
	}
	ms, err := db.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	var batch int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(batch), 0) + 1 FROM migrations").Scan(&batch); err != nil {
		return nil, fmt.Errorf("store: next migration batch: %w", err)
	}
	var done []string
	for _, m := range ms {
		if m.Applied {
			continue
		}
		if err := db.applyMigration(ctx, m, batch); err != nil {
			return done, err
		}
		done = append(done, m.Name)
	}
	return done, nil
}

// applyMigration runs one migration. On SQLite and PostgreSQL the DDL and
// its record commit together; MySQL commits DDL implicitly, so there the
// record is written after the statements succeed.
func (db *DB) applyMigration(ctx context.Context, m Migration, batch int) error {
	stmts := splitStatements(m.sql)
	run := func(ex interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}) error {
		for _, s := range stmts {
			if _, err := ex.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("store: migration %s: %w\n%s", m.Name, err, s)
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
		return fmt.Errorf("store: list tables: %w", err)
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
		stmt := "DROP TABLE IF EXISTS " + quoteIdent(db.Dialect, t)
		if db.Dialect == PgSQL {
			stmt += " CASCADE"
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("store: drop %s: %w", t, err)
		}
	}
	return nil
}

func quoteIdent(d Dialect, s string) string {
	if d == MySQL {
		return "`" + strings.ReplaceAll(s, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
