package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestRebind(t *testing.T) {
	require.Equal(t, "SELECT ? FROM t WHERE a = ?", store.Rebind(store.SQLite, "SELECT ? FROM t WHERE a = ?"))
	require.Equal(t, "SELECT $1 FROM t WHERE a = $2 AND b = '?'", store.Rebind(store.PgSQL, "SELECT ? FROM t WHERE a = ? AND b = '?'"))
}

func TestMigrationsApplyAndRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		ms, err := db.Migrations(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, ms)
		for _, m := range ms {
			require.True(t, m.Applied, m.Name)
		}
		pending, err := db.Pending(ctx)
		require.NoError(t, err)
		require.Empty(t, pending)
		again, err := db.Migrate(ctx)
		require.NoError(t, err)
		require.Empty(t, again, "a second migrate applies nothing")

		// Every table of the spec exists with Laravel's queue columns.
		for _, q := range []string{
			"SELECT id, name, email, password FROM users",
			"SELECT token FROM personal_access_tokens",
			"SELECT id, title, destination, departure_date, price, capacity, quota FROM tours",
			"SELECT id, code, user_id, tour_id, quantity, total_amount, status, expires_at, paid_at FROM bookings",
			"SELECT payload FROM payment_notifications",
			"SELECT id, queue, payload, attempts, reserved_at, available_at, created_at FROM jobs",
			"SELECT id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, cancelled_at, created_at, finished_at FROM job_batches",
			"SELECT id, uuid, connection, queue, payload, exception, failed_at FROM failed_jobs",
			"SELECT expiration FROM cache",
			"SELECT owner, expiration FROM cache_locks",
		} {
			rows, err := db.QueryContext(ctx, q)
			require.NoError(t, err, q)
			require.NoError(t, rows.Close())
		}

		require.NoError(t, db.DropAll(ctx))
		pending, err = db.Pending(ctx)
		require.NoError(t, err)
		require.Len(t, pending, len(ms))
		done, err := db.Migrate(ctx)
		require.NoError(t, err)
		require.Len(t, done, len(ms))
	})
}

func TestDatabaseClockAndConflicts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		now, err := db.Now(ctx)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), now, 5*time.Second)

		ins := db.Rebind("INSERT INTO cache_locks (" + quoteKey(d) + ", owner, expiration) VALUES (?, ?, ?)")
		_, err = db.ExecContext(ctx, ins, "k", "a", 1)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, ins, "k", "b", 1)
		require.Error(t, err)
		require.True(t, store.IsUniqueViolation(err), "%v", err)
		require.False(t, store.IsRetryable(err))
	})
}

func TestInTxRollsBackOnError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO cache ("+quoteKey(d)+", value, expiration) VALUES (?, ?, ?)"), "x", "y", 0)
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cache").Scan(&n))
		require.Zero(t, n)
	})
}

func quoteKey(d store.Dialect) string {
	if d == store.MySQL {
		return "`key`"
	}
	return "key"
}

// TestSQLiteBackgroundCheckpoint checks that the WAL reaches the database
// file without any commit checkpointing: the writer has automatic
// checkpoints off, and the background checkpointer copies the pages.
func TestSQLiteBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	fileSize := func() int64 {
		fi, err := os.Stat(db.Name)
		require.NoError(t, err)
		return fi.Size()
	}
	var autockpt int
	require.NoError(t, db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&autockpt))
	require.Zero(t, autockpt, "commits must not checkpoint on the writer")

	before := fileSize()
	_, err := db.ExecContext(ctx, "CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
	require.NoError(t, err)
	body := strings.Repeat("x", 2000)
	for i := 0; i < 500; i++ {
		_, err := db.ExecContext(ctx, "INSERT INTO filler (body) VALUES (?)", body)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return fileSize() > before+500*2000 }, 10*time.Second, 50*time.Millisecond,
		"the background checkpoint copies the WAL into the database file")
}
