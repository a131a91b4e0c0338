package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestDashboardSearchReadsIndexes: the booking search's prefix conditions
// are read from an index on every database (its plan names the index), so
// the search stays bounded on a large table.
func TestDashboardSearchReadsIndexes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d Dialect) {
		db, err := Open(context.Background(), OpenParams{Dialect: d, DSN: sqldbtest.NewDSN(t, d)})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = db.Migrate(context.Background())
		require.NoError(t, err)
		for _, c := range []struct {
			table, col, prefix, order string
			index                     map[Dialect]string
		}{
			{"bookings", "code", "TRP-20261207", "code DESC", map[Dialect]string{SQLite: "sqlite_autoindex_bookings_1", MySQL: "key=bookings_code_unique", PgSQL: "bookings_code_pattern"}},
			{"users", "email", "ayu@", "email", map[Dialect]string{SQLite: "sqlite_autoindex_users_1", MySQL: "key=users_email_unique", PgSQL: "users_email_pattern"}},
		} {
			where, args := db.prefixWhere(c.col, c.prefix)
			q := "SELECT id FROM " + c.table + " WHERE " + where + " ORDER BY " + c.order + " LIMIT 51"
			plan := explainPlan(t, db, q, args...)
			t.Logf("%s %s: %s\n%s", d, c.table, q, plan)
			require.Contains(t, plan, c.index[d], "the %s prefix is not read from its index", c.col)
			require.NotContains(t, strings.ToLower(plan), "seq scan")
		}
	})
}

// explainPlan returns db's plan of query q with args, one line a row of
// the EXPLAIN output, each "column=value". On PostgreSQL sequential scans
// are turned off for it: on a table this small a scan is cheaper than a
// lookup, and the plan is to show what the indexes can do.
func explainPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	var plan string
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		explain := "EXPLAIN "
		switch db.Dialect {
		case SQLite:
			explain = "EXPLAIN QUERY PLAN "
		case PgSQL:
			if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, db.Rebind(explain+q), args...)
		if err != nil {
			return err
		}
		cols, vals, err := sqldbtest.Strings(rows)
		for _, row := range vals {
			for i, v := range row {
				plan += cols[i] + "=" + v + " "
			}
			plan += "\n"
		}
		return err
	}))
	return plan
}
