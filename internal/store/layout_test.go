package store_test

import (
	"context"
	"embed"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// layoutV1 is the migrations folder as it was when the queue's tables were
// migrated from it with the application's (every dialect, up to
// 0014_payment_notification_bounds): the layout that databases deployed
// before the queue shipped its own migrations are at.
//
//go:embed testdata/layout_v1
var layoutV1 embed.FS

func layoutV1Migrations(t *testing.T, d store.Dialect) []sqldb.Migration {
	t.Helper()
	ms, err := sqldb.ReadMigrations(layoutV1, path.Join("testdata/layout_v1", string(d)))
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	return ms
}

// openEmpty opens a fresh database with no table.
func openEmpty(t *testing.T, d store.Dialect) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: storetest.NewDSN(t, d)})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestFreshSchemaMatchesLayoutV1: a database migrated from scratch, the
// queue driver's migrations first and the application's after, has exactly
// the tables, columns, indexes and constraints that the old single folder
// built, plus those of any application migration added since.
func TestFreshSchemaMatchesLayoutV1(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		old := openEmpty(t, d)
		_, err := old.DB.Migrate(ctx, layoutV1Migrations(t, d))
		require.NoError(t, err)
		applyNewerAppMigrations(t, old)

		fresh := openEmpty(t, d)
		_, err = fresh.Migrate(ctx)
		require.NoError(t, err)

		want, got := schemaOf(t, old), schemaOf(t, fresh)
		require.NotEmpty(t, want)
		require.Equal(t, want, got)
		for _, table := range []string{"jobs", "job_batches", "failed_jobs", "cache_locks", "queue_processes", "job_batch_outcomes", "bookings"} {
			require.True(t, slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "table "+table+" ") }), "table %s", table)
		}
	})
}

// TestLayoutV1DatabaseMigratesToNewLayout: a database at the old layout's
// head, with rows in it, migrates to the new layout without running any
// statement of the queue's tables again: their records take the queue's
// migration names, nothing is pending afterwards, the rows are all there
// and the schema is the fresh one.
func TestLayoutV1DatabaseMigratesToNewLayout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := openEmpty(t, d)
		v1 := layoutV1Migrations(t, d)
		_, err := db.DB.Migrate(ctx, v1)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind)
VALUES ('default', '{}', 0, 1, 1, 'c0ffee00-0000-4000-8000-000000000001', 'Noop')`))
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO schedule_runs (name, tick, started_at, outcome) VALUES ('prune', 1, 1, 'ran')`))
		require.NoError(t, err)

		// Before migrating, the status already counts the queue's
		// migrations as applied under their old names.
		pending, err := db.Pending(ctx)
		require.NoError(t, err)
		require.Equal(t, newerAppMigrations(t, d), pending)

		done, err := db.Migrate(ctx)
		require.NoError(t, err)
		require.Equal(t, newerAppMigrations(t, d), done, "only migrations newer than the old head run")
		pending, err = db.Pending(ctx)
		require.NoError(t, err)
		require.Empty(t, pending)

		all, err := store.AllMigrations(d)
		require.NoError(t, err)
		var names []string
		for _, m := range all {
			names = append(names, m.Name)
		}
		sort.Strings(names)
		require.Equal(t, names, recordedNames(t, db), "every migration is recorded once, under its new name")
		var renamed int
		for _, m := range all {
			if m.Replaces != "" {
				renamed++
				require.True(t, slices.ContainsFunc(v1, func(o sqldb.Migration) bool { return o.Name == m.Replaces }), "%s replaces %s, which the old layout has", m.Name, m.Replaces)
			}
		}
		require.Equal(t, 5, renamed, "the five queue migrations of the old layout")

		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE kind = 'Noop'").Scan(&n))
		require.Equal(t, 1, n)
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schedule_runs").Scan(&n))
		require.Equal(t, 1, n)

		again, err := db.Migrate(ctx)
		require.NoError(t, err)
		require.Empty(t, again)

		fresh := openEmpty(t, d)
		_, err = fresh.Migrate(ctx)
		require.NoError(t, err)
		require.Equal(t, schemaOf(t, fresh), schemaOf(t, db))
	})
}

// newerAppMigrations names the migrations added after the old layout's
// head, which a database at that head still has to run: the application's
// newer than the head, and the queue's that replace none of the old ones.
func newerAppMigrations(t *testing.T, d store.Dialect) []string {
	t.Helper()
	v1 := layoutV1Migrations(t, d)
	head := v1[len(v1)-1].Name
	all, err := store.AllMigrations(d)
	require.NoError(t, err)
	var out []string
	for _, m := range all {
		if m.Replaces == "" && (strings.HasPrefix(m.Name, "queue_") || m.Name > head) {
			out = append(out, m.Name)
		}
	}
	return out
}

func applyNewerAppMigrations(t *testing.T, db *store.DB) {
	t.Helper()
	newer := newerAppMigrations(t, db.Dialect)
	all, err := store.AllMigrations(db.Dialect)
	require.NoError(t, err)
	var ms []sqldb.Migration
	for _, m := range all {
		if slices.Contains(newer, m.Name) {
			ms = append(ms, m)
		}
	}
	_, err = db.DB.Migrate(context.Background(), ms)
	require.NoError(t, err)
}

func recordedNames(t *testing.T, db *store.DB) []string {
	t.Helper()
	rec, err := db.RecordedMigrations(context.Background())
	require.NoError(t, err)
	var out []string
	for name := range rec {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// schemaOf lists db's tables with their columns, its indexes and its
// constraints, one sorted line each, leaving out the migrations table
// (whose rows differ, not its shape).
func schemaOf(t *testing.T, db *store.DB) []string {
	t.Helper()
	var queries []string
	switch db.Dialect {
	case store.SQLite:
		// The statements SQLite keeps are the ones that built each object,
		// ALTER TABLE … ADD COLUMN included, so equal text is an equal
		// schema.
		queries = []string{`SELECT type || ' ' || tbl_name || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master
WHERE name NOT IN ('migrations', 'sqlite_sequence') AND tbl_name <> 'migrations'`}
	case store.MySQL:
		queries = []string{
			`SELECT CONCAT('table ', table_name, ' ', engine, ' ', table_collation) FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name <> 'migrations'`,
			`SELECT CONCAT('column ', table_name, ' ', ordinal_position, ' ', column_name, ' ', column_type, ' ', is_nullable, ' ',
  COALESCE(column_default, 'NULL'), ' ', extra, ' ', COALESCE(collation_name, '')) FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name <> 'migrations'`,
			`SELECT CONCAT('index ', table_name, ' ', index_name, ' ', seq_in_index, ' ', column_name, ' ', non_unique, ' ', COALESCE(sub_part, ''))
FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name <> 'migrations'`,
			`SELECT CONCAT('fk ', k.table_name, ' ', k.constraint_name, ' ', k.column_name, ' ', k.referenced_table_name, ' ', k.referenced_column_name, ' ', r.delete_rule)
FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r
  ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name
WHERE k.table_schema = DATABASE()`,
			`SELECT CONCAT('check ', constraint_name, ' ', check_clause) FROM information_schema.check_constraints
WHERE constraint_schema = DATABASE()`,
		}
	case store.PgSQL:
		queries = []string{
			`SELECT 'table ' || table_name || ' ' FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name <> 'migrations'`,
			`SELECT 'column ' || table_name || ' ' || ordinal_position || ' ' || column_name || ' ' || data_type || ' ' ||
  COALESCE(character_maximum_length::text, '') || ' ' || is_nullable || ' ' || COALESCE(column_default, 'NULL')
FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'migrations'`,
			`SELECT 'index ' || tablename || ' ' || indexname || ' ' || indexdef FROM pg_indexes
WHERE schemaname = current_schema() AND tablename <> 'migrations'`,
			`SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE n.nspname = current_schema() AND c.conrelid::regclass::text <> 'migrations'`,
		}
	default:
		t.Fatalf("no schema query for %s", db.Dialect)
	}
	var out []string
	for _, q := range queries {
		rows, err := db.QueryContext(context.Background(), q)
		require.NoError(t, err, q)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			out = append(out, line)
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	sort.Strings(out)
	return out
}
