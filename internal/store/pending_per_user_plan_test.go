package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestPendingPerUserCountReadsItsIndex: the fair-use count of a customer's
// pending bookings, run in every booking, reads the index of pending
// bookings per customer, not every booking the customer ever made.
func TestPendingPerUserCountReadsItsIndex(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d Dialect) {
		ctx := context.Background()
		db, err := Open(ctx, OpenParams{Dialect: d, DSN: sqldbtest.NewDSN(t, d)})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		want := map[Dialect]string{SQLite: "bookings_user_pending", MySQL: "bookings_user_status", PgSQL: "bookings_user_pending"}[d]
		q := "SELECT COUNT(*) FROM bookings WHERE user_id = ? AND status = 'pending'"
		var plan string
		require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
			explain := "EXPLAIN "
			switch d {
			case SQLite:
				explain = "EXPLAIN QUERY PLAN "
			case PgSQL:
				// An empty table is cheaper to scan than to look up.
				if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
					return err
				}
			}
			rows, err := tx.QueryContext(ctx, db.Rebind(explain+q), 7)
			if err != nil {
				return err
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				for i, v := range vals {
					plan += cols[i] + "=" + v.String + " "
				}
				plan += "\n"
			}
			return rows.Err()
		}))
		t.Logf("%s: %s\n%s", d, q, plan)
		require.Contains(t, plan, want)
	})
}
