package store

import (
	"context"
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
		plan := explainPlan(t, db, q, 7)
		t.Logf("%s: %s\n%s", d, q, plan)
		require.Contains(t, plan, want)
	})
}
