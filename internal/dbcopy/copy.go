// Package dbcopy copies a Tripin database between SQLite, MySQL/MariaDB and
// PostgreSQL (`tripin db copy`), in any direction, and verifies each table
// by its row count and a checksum computed the same way on both sides. The
// list of tables, their columns, primary keys and foreign keys come from
// the databases' own catalogs, so tables added by later migrations are
// copied without this package knowing their names.
package dbcopy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Params says what Copy copies and how.
type Params struct {
	// From is the source. Its schema must be current: every embedded
	// migration applied and none unknown.
	From *store.DB
	// To is the target. It is migrated to current when it is empty or
	// behind.
	To *store.DB
	// Force deletes the target's rows first when it already holds some;
	// without it Copy refuses to touch a target that is not empty.
	Force bool
	// DryRun only counts rows on both sides; nothing is written.
	DryRun bool
	// BatchRows is the number of rows per multi-row INSERT (500 when 0).
	// Fewer are sent when a table's columns would exceed the dialect's
	// limit on bound parameters.
	BatchRows int
	// Progress, when set, is told how each table's copy advances: when it
	// starts, after each batch is inserted, and when it is done. Each
	// table's rows are counted in the source's snapshot first, for the
	// total. It is not called in a dry run.
	Progress func(TableProgress)
}

// TableProgress is how far the copy of one table has come.
type TableProgress struct {
	Table string
	// Rows is the number of rows inserted so far; Total, the number the
	// source's snapshot holds.
	Rows  int64
	Total int64
	// Done is set once, when the table's last rows are committed.
	Done bool
}

// RefusedError is returned when Copy will not run: the source's schema
// is not current, the target holds rows and Force is not set, or both sides
// are the same database. Its message is one line meant for an operator.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// IsRefused reports whether err is a RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

func refusef(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// Endpoint names one side of a copy without its credentials.
type Endpoint struct {
	Dialect  sqldb.Dialect `json:"dialect"`
	Database string        `json:"database"`
}

func (e Endpoint) String() string { return fmt.Sprintf("%s (%s)", e.Dialect, e.Database) }

// Table is what Copy did with one table and what verification found.
type Table struct {
	Table      string `json:"table"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
	// The checksums are SHA-256 over a canonical rendering of every row,
	// in primary-key order; they are empty in a dry run.
	SourceChecksum string `json:"source_checksum,omitempty"`
	TargetChecksum string `json:"target_checksum,omitempty"`
	// NextID is the id the target's sequence hands out next, for tables
	// with an auto-increment key.
	NextID   int64 `json:"next_id,omitempty"`
	Verified bool  `json:"verified"`
}

// Result is the outcome of Copy or Verify.
type Result struct {
	From   Endpoint `json:"from"`
	To     Endpoint `json:"to"`
	DryRun bool     `json:"dry_run"`
	// Migrated lists the migrations applied to the target (in a dry run:
	// those that would be).
	Migrated []string `json:"migrated"`
	// DeletedRows is how many target rows Force deleted (in a dry run: how
	// many the target holds).
	DeletedRows int64   `json:"deleted_rows"`
	Tables      []Table `json:"tables"`
	Rows        int64   `json:"rows"`
	// Verified is true when every table has the same row count and
	// checksum on both sides. It is false in a dry run.
	Verified   bool  `json:"verified"`
	DurationMS int64 `json:"duration_ms"`
}

// Mismatched returns the names of the tables that failed verification.
func (r *Result) Mismatched() []string {
	var out []string
	for _, t := range r.Tables {
		if !t.Verified {
			out = append(out, t.Table)
		}
	}
	return out
}

// DialectOfDSN tells which database a DSN points at, accepting what DB_URL
// accepts for each dialect: a file path, file: URI or sqlite:// URL (also
// sqlite:path) for SQLite; a mysql:// or mariadb:// URL or a go-sql-driver
// DSN (user:pass@tcp(host:3306)/db) for MySQL; a postgres:// or
// postgresql:// URL or a key=value string for PostgreSQL. It returns the
// DSN to give Open, which differs only for sqlite:path.
func DialectOfDSN(dsn string) (sqldb.Dialect, string, error) {
	s := strings.TrimSpace(dsn)
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return "", "", errors.New("empty DSN")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return sqldb.PgSQL, s, nil
	case strings.HasPrefix(lower, "mysql://"), strings.HasPrefix(lower, "mariadb://"):
		return sqldb.MySQL, s, nil
	case strings.HasPrefix(lower, "sqlite://"), strings.HasPrefix(lower, "file:"):
		return sqldb.SQLite, s, nil
	case strings.HasPrefix(lower, "sqlite:"):
		return sqldb.SQLite, s[len("sqlite:"):], nil
	case strings.Contains(s, "://"):
		scheme := s[:strings.Index(s, "://")]
		return "", "", fmt.Errorf("unknown scheme %q: use a SQLite file path, mysql://, postgres:// or a go-sql-driver DSN", scheme)
	case isPgKeyValue(s):
		return sqldb.PgSQL, s, nil
	case strings.Contains(s, "@tcp(") || strings.Contains(s, "@unix(") ||
		strings.HasPrefix(s, "tcp(") || strings.HasPrefix(s, "unix(") || strings.Contains(s, "@/"):
		if _, err := mysql.ParseDSN(s); err != nil {
			return "", "", fmt.Errorf("invalid MySQL DSN: %w", sqldb.RedactError(err, s))
		}
		return sqldb.MySQL, s, nil
	}
	return sqldb.SQLite, s, nil
}

// isPgKeyValue reports whether s is libpq's key=value connection string
// ("host=db dbname=tripin user=tripin").
func isPgKeyValue(s string) bool {
	for _, f := range strings.Fields(s) {
		k, _, ok := strings.Cut(f, "=")
		if !ok {
			return false
		}
		switch k {
		case "host", "hostaddr", "dbname", "user", "port", "sslmode", "password":
			return true
		}
	}
	return false
}

// SQLitePath returns the file a SQLite DSN names, as Open reads it.
func SQLitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "sqlite://")
	p = strings.TrimPrefix(p, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// valueKind is the type a column's values are converted to and compared
// as, whatever each dialect calls it.
type valueKind int

const (
	kindInt valueKind = iota + 1
	kindBool
	kindText
	kindUUID
	kindJSON
	kindTime
	kindDate
	kindBlob
	kindFloat
)

var kindNames = map[valueKind]string{
	kindInt: "integer", kindBool: "boolean", kindText: "text", kindUUID: "uuid", kindJSON: "json",
	kindTime: "timestamp", kindDate: "date", kindBlob: "blob", kindFloat: "float",
}

// catColumn is one column as a database's catalog describes it.
type catColumn struct {
	name  string
	typ   string // the declared type, as the catalog spells it
	kind  valueKind
	fixed bool // CHAR(n): padded by PostgreSQL, trimmed by MySQL
	// prec is the number of fractional second digits a time column keeps.
	prec int
	// secondsText marks a SQLite time column written as
	// "YYYY-MM-DD HH:MM:SS[.fraction]", the text of its CURRENT_TIMESTAMP default,
	// so that the queue's comparisons against it keep working.
	secondsText bool
}

// catTable is one table as a database's catalog describes it.
type catTable struct {
	name          string
	cols          []catColumn
	pk            []string
	refs          []string // tables its foreign keys point at
	autoIncrement bool     // SQLite: declared AUTOINCREMENT, so sqlite_sequence holds its high-water mark
}

// columnPlan is a column of the copy plan: the source's name and the kind
// both sides agree on.
type columnPlan struct {
	name        string
	kind        valueKind
	fixed       bool
	prec        int
	secondsText bool // the target is SQLite and stores the column as seconds text
}

// tablePlan is a table of the copy plan.
type tablePlan struct {
	name  string
	cols  []columnPlan
	pk    []int // indexes into cols
	intPK bool  // a single integer key: rows stream in key order
	// autoIncrement is true when the target's table hands out ids itself
	// and needs its sequence moved past the copied ones.
	autoIncrement bool
}

// catalog reads db's tables, columns, keys and foreign keys, leaving out
// the migrations table (each side keeps its own) and SQLite's internals.
func catalog(ctx context.Context, db *store.DB) (map[string]*catTable, error) {
	var tables map[string]*catTable
	var err error
	switch db.Dialect {
	case sqldb.SQLite:
		tables, err = sqliteCatalog(ctx, db)
	case sqldb.MySQL:
		tables, err = serverCatalog(ctx, db, "DATABASE()")
	case sqldb.PgSQL:
		tables, err = serverCatalog(ctx, db, "current_schema()")
	default:
		err = fmt.Errorf("unknown dialect %q", db.Dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("dbcopy: read the %s catalog: %w", db.Dialect, err)
	}
	delete(tables, "migrations")
	return tables, nil
}

func sqliteCatalog(ctx context.Context, db *store.DB) (map[string]*catTable, error) {
	rows, err := db.Read.QueryContext(ctx, "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
	if err != nil {
		return nil, err
	}
	tables := map[string]*catTable{}
	for rows.Next() {
		var name, ddl string
		if err := rows.Scan(&name, &ddl); err != nil {
			rows.Close()
			return nil, err
		}
		tables[name] = &catTable{name: name, autoIncrement: strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT")}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, t := range tables {
		cols, err := db.Read.QueryContext(ctx, "SELECT name, type, pk, COALESCE(dflt_value, '') FROM pragma_table_info(?) ORDER BY cid", t.name)
		if err != nil {
			return nil, err
		}
		type pkCol struct {
			pos  int
			name string
		}
		var pks []pkCol
		for cols.Next() {
			var c catColumn
			var pk int
			var dflt string
			if err := cols.Scan(&c.name, &c.typ, &pk, &dflt); err != nil {
				cols.Close()
				return nil, err
			}
			if err := classify(sqldb.SQLite, &c, t.name); err != nil {
				cols.Close()
				return nil, err
			}
			if c.kind == kindTime {
				// SQLite keeps whatever text it is given, so its times
				// hold nanoseconds.
				c.prec = 9
				c.secondsText = strings.EqualFold(strings.TrimSpace(dflt), "CURRENT_TIMESTAMP")
			}
			if pk > 0 {
				pks = append(pks, pkCol{pk, c.name})
			}
			t.cols = append(t.cols, c)
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return nil, err
		}
		sort.Slice(pks, func(i, j int) bool { return pks[i].pos < pks[j].pos })
		for _, p := range pks {
			t.pk = append(t.pk, p.name)
		}
		refs, err := db.Read.QueryContext(ctx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, t.name)
		if err != nil {
			return nil, err
		}
		for refs.Next() {
			var r string
			if err := refs.Scan(&r); err != nil {
				refs.Close()
				return nil, err
			}
			t.refs = append(t.refs, r)
		}
		refs.Close()
		if err := refs.Err(); err != nil {
			return nil, err
		}
	}
	return tables, nil
}

// serverCatalog reads MySQL's or PostgreSQL's information_schema; schema is
// the SQL expression naming the current schema.
func serverCatalog(ctx context.Context, db *store.DB, schema string) (map[string]*catTable, error) {
	tables := map[string]*catTable{}
	err := queryEach(ctx, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = "+schema+" AND table_type = 'BASE TABLE'",
		func(scan func(...any) error) error {
			var name string
			if err := scan(&name); err != nil {
				return err
			}
			tables[name] = &catTable{name: name}
			return nil
		})
	if err != nil {
		return nil, err
	}
	typeCol := "column_type"
	if db.Dialect == sqldb.PgSQL {
		typeCol = "data_type"
	}
	err = queryEach(ctx, db, "SELECT table_name, column_name, "+typeCol+", COALESCE(datetime_precision, 0) FROM information_schema.columns WHERE table_schema = "+schema+" ORDER BY table_name, ordinal_position",
		func(scan func(...any) error) error {
			var table string
			var c catColumn
			var prec int64
			if err := scan(&table, &c.name, &c.typ, &prec); err != nil {
				return err
			}
			t := tables[table]
			if t == nil {
				return nil // a view's column
			}
			if err := classify(db.Dialect, &c, table); err != nil {
				return err
			}
			c.prec = int(prec)
			t.cols = append(t.cols, c)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = queryEach(ctx, db, `SELECT kcu.table_name, kcu.column_name
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu ON kcu.constraint_schema = tc.constraint_schema
  AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name
WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = `+schema+`
ORDER BY kcu.table_name, kcu.ordinal_position`,
		func(scan func(...any) error) error {
			var table, col string
			if err := scan(&table, &col); err != nil {
				return err
			}
			if t := tables[table]; t != nil {
				t.pk = append(t.pk, col)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	fkQuery := `SELECT DISTINCT table_name, referenced_table_name FROM information_schema.key_column_usage
WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL`
	if db.Dialect == sqldb.PgSQL {
		fkQuery = `SELECT c1.relname, c2.relname FROM pg_constraint k
JOIN pg_class c1 ON c1.oid = k.conrelid
JOIN pg_class c2 ON c2.oid = k.confrelid
JOIN pg_namespace n ON n.oid = c1.relnamespace
WHERE k.contype = 'f' AND n.nspname = current_schema()`
	}
	err = queryEach(ctx, db, fkQuery, func(scan func(...any) error) error {
		var table, ref string
		if err := scan(&table, &ref); err != nil {
			return err
		}
		if t := tables[table]; t != nil {
			t.refs = append(t.refs, ref)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		// Server-side tables with an integer key all hand out ids from a
		// sequence or AUTO_INCREMENT in Tripin's migrations; the reset
		// is harmless for one that does not.
		t.autoIncrement = true
	}
	return tables, nil
}

func queryEach(ctx context.Context, db *store.DB, q string, fn func(scan func(...any) error) error) error {
	rows, err := db.Read.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// classify sets c's kind from its declared type. An unknown type fails, so
// that a new column type is handled on purpose instead of copied wrongly.
func classify(d sqldb.Dialect, c *catColumn, table string) error {
	t := strings.ToLower(strings.TrimSpace(c.typ))
	base := t
	if i := strings.IndexAny(base, "( "); i >= 0 {
		base = base[:i]
	}
	switch d {
	case sqldb.SQLite:
		switch {
		case base == "boolean" || base == "bool":
			c.kind = kindBool
		case strings.Contains(base, "int"):
			c.kind = kindInt
		case base == "datetime" || base == "timestamp":
			c.kind = kindTime
		case base == "date":
			c.kind = kindDate
		case base == "json":
			c.kind = kindJSON
		case base == "uuid":
			c.kind = kindUUID
		case strings.Contains(base, "char") || strings.Contains(base, "text") || strings.Contains(base, "clob"):
			c.kind = kindText
			c.fixed = base == "char" || base == "character"
		case base == "blob":
			c.kind = kindBlob
		case base == "real" || base == "double" || base == "float":
			c.kind = kindFloat
		}
	case sqldb.MySQL:
		switch {
		case strings.HasPrefix(t, "tinyint(1)") || base == "bool" || base == "boolean":
			c.kind = kindBool
		case strings.HasSuffix(base, "int"):
			c.kind = kindInt
		case base == "timestamp" || base == "datetime":
			c.kind = kindTime
		case base == "date":
			c.kind = kindDate
		case base == "json":
			c.kind = kindJSON
		case base == "char":
			c.kind, c.fixed = kindText, true
		case base == "varchar" || strings.HasSuffix(base, "text") || base == "enum" || base == "set":
			c.kind = kindText
		case strings.HasSuffix(base, "blob") || base == "binary" || base == "varbinary":
			c.kind = kindBlob
		case base == "float" || base == "double" || base == "real":
			c.kind = kindFloat
		}
	case sqldb.PgSQL:
		switch t {
		case "boolean":
			c.kind = kindBool
		case "smallint", "integer", "bigint":
			c.kind = kindInt
		case "timestamp with time zone", "timestamp without time zone":
			c.kind = kindTime
		case "date":
			c.kind = kindDate
		case "json", "jsonb":
			c.kind = kindJSON
		case "uuid":
			c.kind = kindUUID
		case "character":
			c.kind, c.fixed = kindText, true
		case "character varying", "text":
			c.kind = kindText
		case "bytea":
			c.kind = kindBlob
		case "real", "double precision":
			c.kind = kindFloat
		}
	}
	if c.kind == 0 {
		return fmt.Errorf("column %s.%s has type %q, which db copy does not know how to convert", table, c.name, c.typ)
	}
	return nil
}

// mergeKinds returns the kind both sides can agree on: the more specific
// of int/bool (MySQL's TINYINT(1) is a boolean), text/uuid and text/json.
func mergeKinds(a, b valueKind) (valueKind, bool) {
	if a == b {
		return a, true
	}
	pair := func(x, y valueKind) bool { return (a == x && b == y) || (a == y && b == x) }
	switch {
	case pair(kindInt, kindBool):
		return kindBool, true
	case pair(kindText, kindUUID):
		return kindUUID, true
	case pair(kindText, kindJSON):
		return kindJSON, true
	}
	return 0, false
}

// plan matches the source's tables with the target's and orders them so
// that every table comes after the tables its foreign keys point at (on
// either side). A source table or column missing from the target fails.
func plan(src, dst map[string]*catTable, dstDialect sqldb.Dialect) ([]*tablePlan, error) {
	var out []*tablePlan
	for _, st := range src {
		dt := dst[st.name]
		if dt == nil {
			return nil, fmt.Errorf("dbcopy: table %s exists in the source but not in the target", st.name)
		}
		ct := &tablePlan{name: st.name, autoIncrement: dt.autoIncrement}
		for _, sc := range st.cols {
			var dc *catColumn
			for i := range dt.cols {
				if dt.cols[i].name == sc.name {
					dc = &dt.cols[i]
					break
				}
			}
			if dc == nil {
				return nil, fmt.Errorf("dbcopy: column %s.%s exists in the source but not in the target", st.name, sc.name)
			}
			k, ok := mergeKinds(sc.kind, dc.kind)
			if !ok {
				return nil, fmt.Errorf("dbcopy: column %s.%s is %s (%s) in the source but %s (%s) in the target",
					st.name, sc.name, kindNames[sc.kind], sc.typ, kindNames[dc.kind], dc.typ)
			}
			ct.cols = append(ct.cols, columnPlan{
				name: sc.name, kind: k, fixed: sc.fixed || dc.fixed, prec: min(sc.prec, dc.prec),
				secondsText: dstDialect == sqldb.SQLite && dc.secondsText,
			})
		}
		for _, name := range st.pk {
			for i, c := range ct.cols {
				if c.name == name {
					ct.pk = append(ct.pk, i)
				}
			}
		}
		ct.intPK = len(ct.pk) == 1 && ct.cols[ct.pk[0]].kind == kindInt
		out = append(out, ct)
	}
	order, err := dependencyOrder(src, dst)
	if err != nil {
		return nil, err
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	sort.Slice(out, func(i, j int) bool { return pos[out[i].name] < pos[out[j].name] })
	return out, nil
}

// dependencyOrder sorts the source's tables so that referenced tables come
// first, using the foreign keys of both catalogs; ties go by name so that
// the order is the same on every run. A cycle fails loudly.
func dependencyOrder(src, dst map[string]*catTable) ([]string, error) {
	deps := map[string]map[string]bool{}
	for name := range src {
		deps[name] = map[string]bool{}
	}
	for _, cat := range []map[string]*catTable{src, dst} {
		for name, t := range cat {
			if deps[name] == nil {
				continue
			}
			for _, r := range t.refs {
				if r != name && deps[r] != nil {
					deps[name][r] = true
				}
			}
		}
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(deps) {
		var ready []string
		for name, ds := range deps {
			if done[name] {
				continue
			}
			ok := true
			for d := range ds {
				if !done[d] {
					ok = false
					break
				}
			}
			if ok {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			var left []string
			for name := range deps {
				if !done[name] {
					left = append(left, name)
				}
			}
			sort.Strings(left)
			return nil, fmt.Errorf("dbcopy: the foreign keys of %s form a cycle; db copy cannot order them", strings.Join(left, ", "))
		}
		sort.Strings(ready)
		for _, n := range ready {
			done[n] = true
		}
		order = append(order, ready...)
	}
	return order, nil
}

// schemaState compares db's applied migrations with the embedded ones.
func schemaState(ctx context.Context, db *store.DB) (applied, pending, unknown []string, err error) {
	ms, err := db.Migrations(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	known := map[string]bool{}
	for _, m := range ms {
		known[m.Name] = true
		if m.Replaces != "" {
			known[m.Replaces] = true
		}
		if m.Applied {
			applied = append(applied, m.Name)
		} else {
			pending = append(pending, m.Name)
		}
	}
	recorded, err := db.RecordedMigrations(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	for name := range recorded {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return applied, pending, unknown, nil
}

// sameDatabase reports whether a and b are one database reached twice, so
// that a copy never deletes its own source. SQLite compares files; MySQL
// and PostgreSQL take a random lock through a and look for it through b.
func sameDatabase(ctx context.Context, a, b *store.DB) (bool, error) {
	if a.Dialect != b.Dialect {
		return false, nil
	}
	switch a.Dialect {
	case sqldb.SQLite:
		if a.Name == ":memory:" || b.Name == ":memory:" {
			return false, nil
		}
		sa, errA := os.Stat(a.Name)
		sb, errB := os.Stat(b.Name)
		if errA != nil || errB != nil {
			return false, nil
		}
		return os.SameFile(sa, sb), nil
	case sqldb.MySQL:
		var dbA, dbB string
		if err := a.QueryRowContext(ctx, "SELECT COALESCE(DATABASE(), '')").Scan(&dbA); err != nil {
			return false, err
		}
		if err := b.QueryRowContext(ctx, "SELECT COALESCE(DATABASE(), '')").Scan(&dbB); err != nil {
			return false, err
		}
		if dbA != dbB {
			return false, nil
		}
		conn, err := a.Conn(ctx)
		if err != nil {
			return false, err
		}
		defer conn.Close()
		name := "tripin_db_copy_" + randomHex(8)
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
			return false, err
		}
		defer func() {
			_ = conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", name).Scan(new(sql.NullInt64))
		}()
		var holder sql.NullInt64
		if err := b.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&holder); err != nil {
			return false, err
		}
		return holder.Valid, nil
	case sqldb.PgSQL:
		conn, err := a.Conn(ctx)
		if err != nil {
			return false, err
		}
		defer conn.Close()
		var key [8]byte
		if _, err := rand.Read(key[:]); err != nil {
			return false, err
		}
		k := int64(binary.BigEndian.Uint64(key[:]) >> 1)
		var locked bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", k).Scan(&locked); err != nil {
			return false, err
		}
		defer func() {
			_ = conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", k).Scan(new(bool))
		}()
		// Advisory locks belong to one database, so b gets the lock unless
		// it is the very database a holds it in.
		bconn, err := b.Conn(ctx)
		if err != nil {
			return false, err
		}
		defer bconn.Close()
		var got bool
		if err := bconn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", k).Scan(&got); err != nil {
			return false, err
		}
		if got {
			// A session's advisory lock is released only by that session.
			_ = bconn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", k).Scan(new(bool))
		}
		return !got, nil
	}
	return false, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func endpoint(db *store.DB) Endpoint { return Endpoint{Dialect: db.Dialect, Database: db.Name} }

// Copy copies every application table from p.From to p.To and verifies
// the copy. It refuses (RefusedError) when the source's schema is not
// current, when the target has migrations this binary does not know, when
// the target holds rows and Force is not set, and when both are the same
// database. The target is migrated first when it is behind. Rows keep
// their primary keys; the source is read in one snapshot transaction, so
// the copy is consistent even if the source is written meanwhile (later
// writes are not copied). Verification compares, per table, the row count
// and a SHA-256 over every row in primary-key order, rendered canonically
// so that the same data hashes the same on every dialect. A mismatch is
// reported in the result (Verified false), not as an error.
func Copy(ctx context.Context, p Params) (*Result, error) {
	start := time.Now()
	if p.From == nil || p.To == nil {
		return nil, errors.New("dbcopy: source and target are required")
	}
	src, dst := p.From, p.To
	res := &Result{From: endpoint(src), To: endpoint(dst), DryRun: p.DryRun, Migrated: []string{}, Tables: []Table{}}

	same, err := sameDatabase(ctx, src, dst)
	if err != nil {
		return nil, fmt.Errorf("dbcopy: compare source and target: %w", err)
	}
	if same {
		return nil, refusef("the source and the target are the same database (%s)", res.From)
	}
	applied, pending, unknown, err := schemaState(ctx, src)
	if err != nil {
		return nil, err
	}
	switch {
	case len(applied) == 0:
		return nil, refusef("the source database %s has no Tripin schema (no migrations applied)", res.From)
	case len(unknown) > 0:
		return nil, refusef("the source database has migrations this tripin does not know (%s); use the tripin that wrote them", strings.Join(unknown, ", "))
	case len(pending) > 0:
		return nil, refusef("the source database is behind: %d migration(s) pending (%s); run 'tripin migrate' against it first", len(pending), strings.Join(pending, ", "))
	}
	_, dstPending, dstUnknown, err := schemaState(ctx, dst)
	if err != nil {
		return nil, err
	}
	if len(dstUnknown) > 0 {
		return nil, refusef("the target database has migrations this tripin does not know (%s)", strings.Join(dstUnknown, ", "))
	}

	srcCat, err := catalog(ctx, src)
	if err != nil {
		return nil, err
	}
	dstCat, err := catalog(ctx, dst)
	if err != nil {
		return nil, err
	}
	// The rows already in the target are counted before it is migrated,
	// so that a refusal leaves it exactly as it was.
	var held []string
	var heldRows int64
	names := make([]string, 0, len(srcCat))
	for name := range srcCat {
		names = append(names, name)
	}
	sort.Strings(names)
	dstCounts := map[string]int64{}
	for _, name := range names {
		if dstCat[name] == nil {
			continue
		}
		n, err := countRows(ctx, dst.Read, dst.Dialect, name)
		if err != nil {
			return nil, err
		}
		dstCounts[name] = n
		if n > 0 {
			held = append(held, fmt.Sprintf("%s: %d", name, n))
			heldRows += n
		}
	}

	if p.DryRun {
		order, err := dependencyOrder(srcCat, dstCat)
		if err != nil {
			return nil, err
		}
		res.Migrated = append(res.Migrated, dstPending...)
		res.DeletedRows = heldRows
		for _, name := range order {
			n, err := countRows(ctx, src.Read, src.Dialect, name)
			if err != nil {
				return nil, err
			}
			res.Tables = append(res.Tables, Table{Table: name, SourceRows: n, TargetRows: dstCounts[name]})
			res.Rows += n
		}
		res.DurationMS = time.Since(start).Milliseconds()
		if len(held) > 0 && !p.Force {
			return res, refusef("the target database already holds rows (%s); pass --force to delete them first", strings.Join(held, ", "))
		}
		return res, nil
	}
	if len(held) > 0 && !p.Force {
		return nil, refusef("the target database already holds rows (%s); pass --force to delete them first", strings.Join(held, ", "))
	}

	if len(dstPending) > 0 {
		done, err := dst.Migrate(ctx)
		res.Migrated = append(res.Migrated, done...)
		if err != nil {
			return res, fmt.Errorf("dbcopy: migrate the target: %w", err)
		}
		if dstCat, err = catalog(ctx, dst); err != nil {
			return res, err
		}
	}
	tables, err := plan(srcCat, dstCat, dst.Dialect)
	if err != nil {
		return res, err
	}

	w, err := newCopyWriter(ctx, dst, p.BatchRows)
	if err != nil {
		return res, err
	}
	defer w.close()
	if heldRows > 0 {
		if err := w.deleteAll(ctx, tables); err != nil {
			return res, err
		}
		res.DeletedRows = heldRows
	}

	// One read-only snapshot of the source for every table, so that
	// bookings never refer to users the copy did not see.
	var opts *sql.TxOptions
	if src.Dialect != sqldb.SQLite {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	stx, err := src.Read.BeginTx(ctx, opts)
	if err != nil {
		return res, fmt.Errorf("dbcopy: begin the source snapshot: %w", err)
	}
	defer stx.Rollback()

	for _, t := range tables {
		var report func(rows int64, done bool)
		if p.Progress != nil {
			total, err := countRows(ctx, stx, src.Dialect, t.name)
			if err != nil {
				return res, err
			}
			report = func(rows int64, done bool) {
				p.Progress(TableProgress{Table: t.name, Rows: rows, Total: total, Done: done})
			}
			report(0, false)
		}
		ct, maxID, err := w.copyRows(ctx, stx, src.Dialect, t, report)
		if err != nil {
			return res, fmt.Errorf("%w (the target now holds a partial copy; run again with --force)", err)
		}
		if t.intPK && t.autoIncrement {
			hw, err := highWater(ctx, src, t)
			if err != nil {
				return res, err
			}
			ct.NextID = max(hw, maxID+1)
		}
		res.Tables = append(res.Tables, ct)
		res.Rows += ct.SourceRows
	}
	_ = stx.Rollback()
	if err := w.close(); err != nil {
		return res, err
	}
	for _, ct := range res.Tables {
		if ct.NextID > 0 {
			if err := resetSequence(ctx, dst, ct.Table, tableByName(tables, ct.Table), ct.NextID); err != nil {
				return res, err
			}
		}
	}

	res.Verified = true
	for i := range res.Tables {
		ct := &res.Tables[i]
		n, sum, err := digestTable(ctx, dst.Read, dst.Dialect, tableByName(tables, ct.Table))
		if err != nil {
			return res, fmt.Errorf("dbcopy: verify %s: %w", ct.Table, err)
		}
		ct.TargetRows, ct.TargetChecksum = n, sum
		ct.Verified = n == ct.SourceRows && sum == ct.SourceChecksum
		res.Verified = res.Verified && ct.Verified
	}
	res.DurationMS = time.Since(start).Milliseconds()
	return res, nil
}

// Verify compares every application table of from and to without
// copying anything: row counts and checksums, as Copy verifies. It is how
// an operator checks, later, that a target still matches its source.
func Verify(ctx context.Context, from, to *store.DB) (*Result, error) {
	start := time.Now()
	res := &Result{From: endpoint(from), To: endpoint(to), Migrated: []string{}, Tables: []Table{}}
	srcCat, err := catalog(ctx, from)
	if err != nil {
		return nil, err
	}
	dstCat, err := catalog(ctx, to)
	if err != nil {
		return nil, err
	}
	tables, err := plan(srcCat, dstCat, to.Dialect)
	if err != nil {
		return nil, err
	}
	res.Verified = true
	for _, t := range tables {
		sn, ssum, err := digestTable(ctx, from.Read, from.Dialect, t)
		if err != nil {
			return nil, fmt.Errorf("dbcopy: verify %s in the source: %w", t.name, err)
		}
		tn, tsum, err := digestTable(ctx, to.Read, to.Dialect, t)
		if err != nil {
			return nil, fmt.Errorf("dbcopy: verify %s in the target: %w", t.name, err)
		}
		ct := Table{Table: t.name, SourceRows: sn, TargetRows: tn, SourceChecksum: ssum, TargetChecksum: tsum,
			Verified: sn == tn && ssum == tsum}
		res.Tables = append(res.Tables, ct)
		res.Rows += sn
		res.Verified = res.Verified && ct.Verified
	}
	res.DurationMS = time.Since(start).Milliseconds()
	return res, nil
}

func tableByName(ts []*tablePlan, name string) *tablePlan {
	for _, t := range ts {
		if t.name == name {
			return t
		}
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func countRows(ctx context.Context, q queryer, d sqldb.Dialect, table string) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+sqldb.QuoteIdent(d, table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("dbcopy: count %s: %w", table, err)
	}
	return n, nil
}

// selectAll is the query reading t's rows in the column order of the plan,
// by primary key when it is one integer (the same order on every dialect;
// other keys are sorted by the digest itself, since text collations differ
// between servers).
func selectAll(d sqldb.Dialect, t *tablePlan) string {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = sqldb.QuoteIdent(d, c.name)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + sqldb.QuoteIdent(d, t.name)
	if t.intPK {
		q += " ORDER BY " + cols[t.pk[0]]
	}
	return q
}

// digestTable counts and checksums t's rows in db.
func digestTable(ctx context.Context, q queryer, d sqldb.Dialect, t *tablePlan) (int64, string, error) {
	rows, err := q.QueryContext(ctx, selectAll(d, t))
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	dg := newTableDigest(t)
	vals := make([]any, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", err
		}
		if err := normalizeRow(t, vals); err != nil {
			return 0, "", err
		}
		dg.add(vals)
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	return dg.rows, dg.sum(), nil
}

// tableDigest hashes a table's rows: each row's canonical rendering is
// hashed, and the table's checksum is SHA-256 over the row hashes in
// primary-key order. Rows of a table without a single integer key are kept
// (key and hash) and sorted by the canonical rendering of their key.
type tableDigest struct {
	t      *tablePlan
	rows   int64
	stream []byte // row hashes, in order, for integer keys
	keyed  []keyedRow
	buf    []byte
}

type keyedRow struct {
	key  string
	hash [sha256.Size]byte
}

func newTableDigest(t *tablePlan) *tableDigest { return &tableDigest{t: t} }

func (dg *tableDigest) add(vals []any) {
	dg.rows++
	dg.buf = dg.buf[:0]
	for i := range dg.t.cols {
		dg.buf = appendCanonical(dg.buf, &dg.t.cols[i], vals[i])
	}
	h := sha256.Sum256(dg.buf)
	if dg.t.intPK {
		dg.stream = append(dg.stream, h[:]...)
		return
	}
	var key []byte
	idx := dg.t.pk
	if len(idx) == 0 {
		// No primary key: the whole row orders it.
		key = append(key, dg.buf...)
	}
	for _, i := range idx {
		key = appendCanonical(key, &dg.t.cols[i], vals[i])
	}
	dg.keyed = append(dg.keyed, keyedRow{key: string(key), hash: h})
}

func (dg *tableDigest) sum() string {
	h := sha256.New()
	if dg.t.intPK {
		h.Write(dg.stream)
	} else {
		sort.Slice(dg.keyed, func(i, j int) bool { return dg.keyed[i].key < dg.keyed[j].key })
		for _, r := range dg.keyed {
			h.Write(r.hash[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendCanonical appends v's canonical rendering: a tag for its kind, its
// length and its bytes. Times are UTC at the precision both sides keep,
// CHAR values lose their padding, UUIDs are lower case and JSON is
// re-encoded with sorted keys, so that equal data renders equally whatever
// the dialect that stored it.
func appendCanonical(b []byte, c *columnPlan, v any) []byte {
	var tag byte
	var s []byte
	switch x := v.(type) {
	case nil:
		return append(b, 'N')
	case int64:
		tag, s = 'I', strconv.AppendInt(nil, x, 10)
	case bool:
		tag, s = 'B', []byte{'0'}
		if x {
			s[0] = '1'
		}
	case float64:
		tag, s = 'F', strconv.AppendFloat(nil, x, 'g', -1, 64)
	case time.Time:
		tag, s = 'T', []byte(truncate(x, c.prec).Format("2006-01-02T15:04:05.000000000Z"))
	case []byte:
		tag, s = 'X', x
	case string:
		tag, s = 'S', []byte(x)
		switch c.kind {
		case kindDate:
			tag = 'D'
		case kindJSON:
			if j, ok := canonicalJSON(x); ok {
				tag, s = 'J', j
			}
		case kindUUID:
			s = bytes.ToLower(s)
		}
		if c.fixed {
			s = bytes.TrimRight(s, " ")
		}
	default:
		tag, s = '?', fmt.Appendf(nil, "%T:%v", v, v)
	}
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func canonicalJSON(s string) ([]byte, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	out, err := json.Marshal(v)
	return out, err == nil
}

// truncate cuts t to prec fractional second digits, in UTC. MySQL rounds
// extra digits on insert, which could move a time into the next second;
// truncating first keeps the copy and its check exact.
func truncate(t time.Time, prec int) time.Time {
	if prec < 0 {
		prec = 0
	}
	if prec >= 9 {
		return t.UTC()
	}
	return t.UTC().Truncate(time.Duration(math.Pow10(9 - prec)))
}

// normalizeRow converts the values a driver returned into the canonical
// Go types of their kinds, in place.
func normalizeRow(t *tablePlan, vals []any) error {
	for i := range vals {
		v, err := normalize(&t.cols[i], vals[i])
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t.name, t.cols[i].name, err)
		}
		vals[i] = v
	}
	return nil
}

// timeLayouts are the texts a time may be stored as in SQLite: the
// driver's own format, CURRENT_TIMESTAMP's, RFC 3339 and time.Time's
// String.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04",
	"2006-01-02",
}

func parseTime(s string) (time.Time, error) {
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i] // a monotonic clock reading from time.Time's String
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time", s)
}

func normalize(c *columnPlan, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok && c.kind != kindBlob {
		v = string(b)
	}
	switch c.kind {
	case kindInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case uint64:
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("integer %d does not fit in 64 bits", x)
			}
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, nil
			}
		}
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case uint64:
			return x != 0, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "1", "t", "true":
				return true, nil
			case "0", "f", "false":
				return false, nil
			}
		}
	case kindText, kindUUID, kindJSON:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case [16]byte:
			return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16]), nil
		}
	case kindTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string:
			return parseTime(strings.TrimSpace(x))
		}
	case kindDate:
		switch x := v.(type) {
		case time.Time:
			return x.Format("2006-01-02"), nil
		case string:
			if len(x) >= 10 {
				if _, err := time.Parse("2006-01-02", x[:10]); err == nil {
					return x[:10], nil
				}
			}
		}
	case kindBlob:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case kindFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("cannot convert %v (%T) to %s", v, v, kindNames[c.kind])
}

// targetValue turns a canonical value into the argument the target's
// driver stores as the app itself would: times in UTC (SQLite's
// CURRENT_TIMESTAMP columns as their seconds text), booleans as 0/1 on
// SQLite.
func targetValue(d sqldb.Dialect, c *columnPlan, v any) any {
	switch x := v.(type) {
	case time.Time:
		x = truncate(x, c.prec)
		if c.secondsText {
			// CURRENT_TIMESTAMP's layout, with a fraction only when the
			// source had one: whole seconds read exactly as the app
			// writes them, and text order stays time order.
			return x.Format("2006-01-02 15:04:05.999999999")
		}
		return x
	case bool:
		if d == sqldb.SQLite {
			if x {
				return int64(1)
			}
			return int64(0)
		}
	}
	return v
}

// copyWriter writes into the target over one connection, so that session
// settings hold for every statement.
type copyWriter struct {
	db        *store.DB
	conn      *sql.Conn
	batchRows int
}

// maxParams is the most bound parameters a statement may carry: SQLite's
// SQLITE_MAX_VARIABLE_NUMBER, and the 16-bit count of MySQL's and
// PostgreSQL's protocols.
func maxParams(d sqldb.Dialect) int {
	if d == sqldb.SQLite {
		return 32766
	}
	return 65535
}

// maxBatchBytes bounds one INSERT's size, well under MySQL's default
// max_allowed_packet (16 MiB on MariaDB), since job payloads can be large.
const maxBatchBytes = 4 << 20

// copyTxRows is how many rows commit together: large enough to be fast,
// small enough that a huge table does not grow one enormous transaction.
const copyTxRows = 10000

func newCopyWriter(ctx context.Context, db *store.DB, batchRows int) (*copyWriter, error) {
	if batchRows <= 0 {
		batchRows = 500
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("dbcopy: connect to the target: %w", err)
	}
	if db.Dialect == sqldb.MySQL {
		// A copied id of 0 must stay 0 instead of drawing the next
		// AUTO_INCREMENT value.
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_AUTO_VALUE_ON_ZERO')"); err != nil {
			conn.Close()
			return nil, fmt.Errorf("dbcopy: set sql_mode on the target: %w", err)
		}
	}
	return &copyWriter{db: db, conn: conn, batchRows: batchRows}, nil
}

func (w *copyWriter) close() error {
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}

// deleteAll empties the plan's tables in the target, children first, in
// one transaction.
func (w *copyWriter) deleteAll(ctx context.Context, tables []*tablePlan) error {
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("dbcopy: begin delete: %w", err)
	}
	defer tx.Rollback()
	for i := len(tables) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+sqldb.QuoteIdent(w.db.Dialect, tables[i].name)); err != nil {
			return fmt.Errorf("dbcopy: delete the target's %s rows: %w", tables[i].name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dbcopy: delete the target's rows: %w", err)
	}
	return nil
}

// copyRows streams t's rows from the source snapshot into the target in
// multi-row INSERTs, and returns the source's row count and checksum and
// the largest integer key copied. report, when not nil, is called with the
// rows inserted after each batch, and once more when the table is
// committed.
func (w *copyWriter) copyRows(ctx context.Context, stx *sql.Tx, srcDialect sqldb.Dialect, t *tablePlan, report func(rows int64, done bool)) (Table, int64, error) {
	ct := Table{Table: t.name}
	d := w.db.Dialect
	rows, err := stx.QueryContext(ctx, selectAll(srcDialect, t))
	if err != nil {
		return ct, 0, fmt.Errorf("dbcopy: read %s: %w", t.name, err)
	}
	defer rows.Close()

	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = sqldb.QuoteIdent(d, c.name)
	}
	head := "INSERT INTO " + sqldb.QuoteIdent(d, t.name) + " (" + strings.Join(cols, ", ") + ")"
	if d == sqldb.PgSQL {
		// Identity columns declared GENERATED ALWAYS take copied ids only
		// with this clause; for other tables it changes nothing.
		head += " OVERRIDING SYSTEM VALUE"
	}
	head += " VALUES "
	rowPH := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	perBatch := max(1, min(w.batchRows, maxParams(d)/len(cols)))

	var (
		tx      *sql.Tx
		args    = make([]any, 0, perBatch*len(cols))
		inBatch int
		bytesIn int
		inTx    int
		maxID   int64
		first   int64 = 1
	)
	flush := func() error {
		if inBatch == 0 {
			return nil
		}
		if tx == nil {
			if tx, err = w.conn.BeginTx(ctx, nil); err != nil {
				return err
			}
		}
		q := head + strings.TrimSuffix(strings.Repeat(rowPH+", ", inBatch), ", ")
		if _, err := tx.ExecContext(ctx, sqldb.Rebind(d, q), args...); err != nil {
			return fmt.Errorf("insert rows %d–%d: %w", first, first+int64(inBatch)-1, err)
		}
		first += int64(inBatch)
		inTx += inBatch
		args, inBatch, bytesIn = args[:0], 0, 0
		if report != nil {
			report(first-1, false)
		}
		if inTx >= copyTxRows {
			err := tx.Commit()
			tx, inTx = nil, 0
			return err
		}
		return nil
	}
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()

	dg := newTableDigest(t)
	vals := make([]any, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return ct, 0, fmt.Errorf("dbcopy: read %s: %w", t.name, err)
		}
		if err := normalizeRow(t, vals); err != nil {
			return ct, 0, fmt.Errorf("dbcopy: %w", err)
		}
		dg.add(vals)
		if t.intPK {
			if id, ok := vals[t.pk[0]].(int64); ok && id > maxID {
				maxID = id
			}
		}
		for i := range t.cols {
			v := targetValue(d, &t.cols[i], vals[i])
			switch x := v.(type) {
			case string:
				bytesIn += len(x)
			case []byte:
				bytesIn += len(x)
			default:
				bytesIn += 8
			}
			args = append(args, v)
		}
		inBatch++
		if inBatch >= perBatch || bytesIn >= maxBatchBytes {
			if err := flush(); err != nil {
				return ct, 0, fmt.Errorf("dbcopy: %s: %w", t.name, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return ct, 0, fmt.Errorf("dbcopy: read %s: %w", t.name, err)
	}
	if err := flush(); err != nil {
		return ct, 0, fmt.Errorf("dbcopy: %s: %w", t.name, err)
	}
	if tx != nil {
		err := tx.Commit()
		tx = nil
		if err != nil {
			return ct, 0, fmt.Errorf("dbcopy: commit %s: %w", t.name, err)
		}
	}
	ct.SourceRows, ct.SourceChecksum = dg.rows, dg.sum()
	if report != nil {
		report(ct.SourceRows, true)
	}
	return ct, maxID, nil
}

// highWater returns the next id the source would hand out for t, which
// may be above its largest id when the last rows were deleted (finished
// jobs); the target continues from there, so no id is ever reused.
func highWater(ctx context.Context, db *store.DB, t *tablePlan) (int64, error) {
	var next sql.NullInt64
	var err error
	switch db.Dialect {
	case sqldb.SQLite:
		var exists bool
		if exists, err = db.TableExists(ctx, "sqlite_sequence"); err != nil || !exists {
			return 0, err
		}
		err = db.Read.QueryRowContext(ctx, "SELECT seq + 1 FROM sqlite_sequence WHERE name = ?", t.name).Scan(&next)
	case sqldb.PgSQL:
		var seq sql.NullString
		err = db.Read.QueryRowContext(ctx, "SELECT pg_get_serial_sequence($1, $2)", sqldb.QuoteIdent(sqldb.PgSQL, t.name), t.cols[t.pk[0]].name).Scan(&seq)
		if err == nil && seq.Valid {
			err = db.Read.QueryRowContext(ctx, "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM "+seq.String).Scan(&next)
		}
	case sqldb.MySQL:
		var conn *sql.Conn
		if conn, err = db.Conn(ctx); err != nil {
			return 0, err
		}
		defer conn.Close()
		// MySQL 8 caches information_schema's AUTO_INCREMENT for a day
		// unless told otherwise; MariaDB has no such variable.
		_, _ = conn.ExecContext(ctx, "SET SESSION information_schema_stats_expiry = 0")
		err = conn.QueryRowContext(ctx, "SELECT AUTO_INCREMENT FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", t.name).Scan(&next)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("dbcopy: read the source's next id for %s: %w", t.name, err)
	}
	return next.Int64, nil
}

// resetSequence makes the target's next id for t equal next: PostgreSQL's
// sequences do not move when ids are given explicitly, MySQL's
// AUTO_INCREMENT only follows the largest id (not the source's
// high-water mark), and SQLite's sqlite_sequence likewise.
func resetSequence(ctx context.Context, db *store.DB, table string, t *tablePlan, next int64) error {
	var err error
	switch db.Dialect {
	case sqldb.PgSQL:
		_, err = db.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence($1, $2), $3, false)", sqldb.QuoteIdent(sqldb.PgSQL, table), t.cols[t.pk[0]].name, next)
	case sqldb.MySQL:
		_, err = db.ExecContext(ctx, "ALTER TABLE "+sqldb.QuoteIdent(sqldb.MySQL, table)+" AUTO_INCREMENT = "+strconv.FormatInt(next, 10))
	case sqldb.SQLite:
		if next <= 1 {
			return nil
		}
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", next-1, table)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				_, err = tx.ExecContext(ctx, "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", table, next-1)
			}
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("dbcopy: reset the target's next id for %s: %w", table, err)
	}
	return nil
}
