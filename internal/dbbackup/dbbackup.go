// Package dbbackup makes `tripin db backup`: a consistent copy of the
// embedded SQLite database taken while the application runs and writes,
// and verified before it is put in place.
//
// The copy is SQLite's VACUUM INTO, which reads the database inside one
// read transaction: in WAL mode, writers go on while it runs and none of
// their later commits reach the copy, so it is the database as of one
// commit. It is written to a temporary file beside the destination,
// verified there (PRAGMA integrity_check, every table of the source
// present, the migrations recorded alike), synced, and then renamed over
// the destination, so the destination is either the old file or a
// complete, checked copy. Row counts cannot be compared with the source:
// by the time the copy is read, the source has moved on.
//
// MySQL/MariaDB and PostgreSQL are refused: their own tools (mysqldump
// --single-transaction, pg_dump) make consistent online copies.
package dbbackup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// Params say what to copy where.
type Params struct {
	// DB is the database to copy; it must be SQLite.
	DB *store.DB
	// Path is the destination file.
	Path string
	// Force replaces an existing destination.
	Force bool
}

// Table is one table of the copy.
type Table struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// Result describes a finished, verified backup.
type Result struct {
	Source string `json:"source"`
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	// Integrity is what PRAGMA integrity_check said of the copy: "ok".
	Integrity string `json:"integrity"`
	// Migrations is the number of migrations recorded in the copy.
	Migrations int     `json:"migrations"`
	Tables     []Table `json:"tables"`
	// Duration is how long the copy and its verification took.
	Duration time.Duration `json:"-"`
}

// RefusedError is a backup refused before anything was written: a
// database that is not SQLite, or a destination that exists.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func refusef(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// Backup copies p.DB into p.Path and verifies the copy.
func Backup(ctx context.Context, p Params) (*Result, error) {
	start := time.Now()
	if err := check(p); err != nil {
		return nil, err
	}
	tmp, err := tempPath(p.Path)
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()
	source, err := sourceState(ctx, p.DB)
	if err != nil {
		return nil, err
	}
	if err := vacuumInto(ctx, p.DB.Name, tmp); err != nil {
		return nil, err
	}
	res, err := verify(ctx, tmp, source)
	if err != nil {
		return nil, err
	}
	if err := syncFile(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p.Path); err != nil {
		return nil, fmt.Errorf("db backup: %w", err)
	}
	done = true
	// The rename is durable once the directory is synced.
	if err := syncFile(filepath.Dir(p.Path)); err != nil {
		return nil, err
	}
	st, err := os.Stat(p.Path)
	if err != nil {
		return nil, fmt.Errorf("db backup: %w", err)
	}
	res.Source, res.Path, res.Bytes, res.Duration = p.DB.Name, p.Path, st.Size(), time.Since(start)
	return res, nil
}

// vacuumInto copies the SQLite database at src into the new file dst. It
// runs on a connection of its own: the application's writer stays free,
// and its read pool is query_only, which VACUUM INTO refuses. VACUUM INTO
// only reads the source, inside one read transaction.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("db backup: open %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("db backup: copy %s into %s: %w", src, dst, err)
	}
	return nil
}

// check refuses what Backup cannot or must not do, before any write.
func check(p Params) error {
	if p.DB == nil {
		return errors.New("db backup: no database")
	}
	switch p.DB.Dialect {
	case store.SQLite:
	case store.MySQL:
		return refusef("db backup copies the embedded SQLite database; back up MySQL/MariaDB with mysqldump --single-transaction (docs/OPERATIONS.md, \"Backups\")")
	case store.PgSQL:
		return refusef("db backup copies the embedded SQLite database; back up PostgreSQL with pg_dump (docs/OPERATIONS.md, \"Backups\")")
	default:
		return refusef("db backup: unknown database dialect %q", p.DB.Dialect)
	}
	if p.DB.Name == ":memory:" {
		return refusef("db backup: the database is in memory; there is no file to copy")
	}
	if p.Path == "" {
		return refusef("db backup: no destination file")
	}
	if same, err := samePath(p.Path, p.DB.Name); err != nil {
		return fmt.Errorf("db backup: %w", err)
	} else if same {
		return refusef("db backup: %s is the database itself", p.Path)
	}
	st, err := os.Stat(p.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("db backup: %w", err)
	case st.IsDir():
		return refusef("db backup: %s is a directory; name the backup file", p.Path)
	case !p.Force:
		return refusef("db backup: %s exists; pass --force to replace it", p.Path)
	}
	if st, err := os.Stat(filepath.Dir(p.Path)); err != nil || !st.IsDir() {
		return refusef("db backup: the directory of %s does not exist", p.Path)
	}
	return nil
}

func samePath(a, b string) (bool, error) {
	aa, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	bb, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	if aa == bb {
		return true, nil
	}
	sa, errA := os.Stat(aa)
	sb, errB := os.Stat(bb)
	return errA == nil && errB == nil && os.SameFile(sa, sb), nil
}

// tempPath names a file beside path that does not exist yet, so that the
// rename stays on one file system.
func tempPath(path string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("db backup: %w", err)
	}
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(b[:])), nil
}

// source is what the copy must match: the source's tables, and its
// migrations, which do not change while the application runs.
type source struct {
	tables     []string
	migrations int
}

func sourceState(ctx context.Context, db *store.DB) (*source, error) {
	tables, err := tableNames(ctx, db.Read)
	if err != nil {
		return nil, fmt.Errorf("db backup: read the source's tables: %w", err)
	}
	s := &source{tables: tables}
	if slices.Contains(tables, "migrations") {
		if err := db.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM migrations").Scan(&s.migrations); err != nil {
			return nil, fmt.Errorf("db backup: read the source's migrations: %w", err)
		}
	}
	return s, nil
}

func tableNames(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// verify opens the copy read-only and checks it against the source.
func verify(ctx context.Context, path string, src *source) (*Result, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, fmt.Errorf("db backup: open the copy: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("db backup: open the copy: %w", err)
	}
	// A page damaged badly enough makes the check itself fail ("database
	// disk image is malformed") instead of listing what it found: either
	// way the copy is not sound.
	var lines []string
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("db backup: the copy failed its integrity check: %w", err)
	}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			rows.Close()
			return nil, fmt.Errorf("db backup: the copy failed its integrity check: %w", err)
		}
		lines = append(lines, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db backup: the copy failed its integrity check: %w", err)
	}
	integrity := strings.Join(lines, "; ")
	if integrity != "ok" {
		return nil, fmt.Errorf("db backup: the copy failed its integrity check: %s", integrity)
	}
	tables, err := tableNames(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("db backup: read the copy's tables: %w", err)
	}
	var missing []string
	for _, t := range src.tables {
		if !slices.Contains(tables, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("db backup: the copy lacks table(s) %s", strings.Join(missing, ", "))
	}
	res := &Result{Integrity: integrity}
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("db backup: count the copy's %s: %w", t, err)
		}
		res.Tables = append(res.Tables, Table{Name: t, Rows: n})
		if t == "migrations" {
			res.Migrations = int(n)
		}
	}
	if res.Migrations != src.migrations {
		return nil, fmt.Errorf("db backup: the copy records %d migrations, the source %d", res.Migrations, src.migrations)
	}
	return res, nil
}

// syncFile flushes a file or directory to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("db backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("db backup: sync %s: %w", path, err)
	}
	return nil
}
