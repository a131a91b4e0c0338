// Package sqldbtest gives tests a fresh database of each dialect: SQLite
// always, MySQL/MariaDB when TRIPIN_TEST_MYSQL_DSN is set and PostgreSQL
// when TRIPIN_TEST_PGSQL_DSN is set. Every call creates its own database,
// dropped when the test ends, so tests never see each other's rows.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tripintravel/tripin/queue/sqldb"
)

// The environment variables naming the server test DSNs.
const (
	MySQLEnv = "TRIPIN_TEST_MYSQL_DSN"
	PgSQLEnv = "TRIPIN_TEST_PGSQL_DSN"
)

// Dialects returns the dialects this test run can use: always SQLite, and
// MySQL and PostgreSQL when their DSNs are set.
func Dialects() []sqldb.Dialect {
	out := []sqldb.Dialect{sqldb.SQLite}
	if os.Getenv(MySQLEnv) != "" {
		out = append(out, sqldb.MySQL)
	}
	if os.Getenv(PgSQLEnv) != "" {
		out = append(out, sqldb.PgSQL)
	}
	return out
}

// Each runs fn as a subtest for every available dialect.
func Each(t *testing.T, fn func(t *testing.T, d sqldb.Dialect)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// Open creates a fresh database of dialect d for this test, applies ms to
// it and returns it open; the database is dropped when the test ends.
func Open(t testing.TB, d sqldb.Dialect, ms []sqldb.Migration) *sqldb.DB {
	t.Helper()
	dsn := NewDSN(t, d)
	db, err := sqldb.Open(context.Background(), sqldb.OpenParams{Dialect: d, DSN: dsn})
	if err != nil {
		t.Fatalf("sqldbtest: open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background(), ms); err != nil {
		t.Fatalf("sqldbtest: migrate %s: %v", d, err)
	}
	return db
}

// NewDSN creates an empty database of dialect d (a file in the test's temp
// dir for SQLite) and returns its DSN. The database is dropped at cleanup.
func NewDSN(t testing.TB, d sqldb.Dialect) string {
	t.Helper()
	name := "tripin_t_" + randomSuffix()
	switch d {
	case sqldb.SQLite:
		return filepath.Join(t.TempDir(), "tripin.db")
	case sqldb.MySQL:
		base := os.Getenv(MySQLEnv)
		if base == "" {
			t.Skipf("sqldbtest: %s not set", MySQLEnv)
		}
		cfg, err := mysql.ParseDSN(base)
		if err != nil {
			t.Fatalf("sqldbtest: %s: %v", MySQLEnv, err)
		}
		admin, err := sql.Open("mysql", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
			t.Fatalf("sqldbtest: create mysql database: %v", err)
		}
		t.Cleanup(func() { dropDatabase("mysql", base, name) })
		cfg.DBName = name
		return cfg.FormatDSN()
	case sqldb.PgSQL:
		base := os.Getenv(PgSQLEnv)
		if base == "" {
			t.Skipf("sqldbtest: %s not set", PgSQLEnv)
		}
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatalf("sqldbtest: create pgsql database: %v", err)
		}
		t.Cleanup(func() { dropDatabase("pgx", base, name) })
		return replacePgDatabase(t, base, name)
	}
	t.Fatalf("sqldbtest: unknown dialect %q", d)
	return ""
}

func dropDatabase(driver, base, name string) {
	admin, err := sql.Open(driver, base)
	if err != nil {
		return
	}
	defer admin.Close()
	if driver == "pgx" {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		return
	}
	_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name)
}

func replacePgDatabase(t testing.TB, base, name string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("sqldbtest: %s: %v", PgSQLEnv, err)
		}
		u.Path = "/" + name
		return u.String()
	}
	// key=value form
	var parts []string
	for _, f := range strings.Fields(base) {
		if !strings.HasPrefix(f, "dbname=") {
			parts = append(parts, f)
		}
	}
	return strings.Join(append(parts, "dbname="+name), " ")
}

func randomSuffix() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("sqldbtest: random: %v", err))
	}
	return hex.EncodeToString(b)
}

// Strings reads the rest of rows, every column as a string (NULL reads as
// ""), and closes rows: for reading what EXPLAIN prints, whose columns
// differ from one database to the next.
func Strings(rows *sql.Rows) (cols []string, out [][]string, err error) {
	defer rows.Close()
	if cols, err = rows.Columns(); err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}
