package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestFreshDB creates a benchmark's database on every available backend:
// it is migrated, a second pool on its DSN sees the first one's rows, and
// drop removes it.
func TestFreshDB(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		where := ServerDSN(d, "")
		if d == store.SQLite {
			where = t.TempDir()
		}
		db, dsn, drop, err := freshDB(ctx, d, where, 2)
		require.NoError(t, err)
		dropped := false
		defer func() {
			if !dropped {
				drop()
			}
		}()
		if d == store.SQLite {
			require.Equal(t, where, filepath.Dir(filepath.Dir(dsn)), "the file is under the directory given")
		}
		_, err = db.ExecContext(ctx, db.Rebind("INSERT INTO job_metrics (queue, minute, processed, failed, runtime_ms, max_wait_ms) VALUES (?, ?, ?, ?, ?, ?)"),
			"fresh", 1, 1, 0, 1, 1)
		require.NoError(t, err)

		other, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
		require.NoError(t, err)
		var n int
		require.NoError(t, other.QueryRowContext(ctx, "SELECT COUNT(*) FROM job_metrics WHERE queue = 'fresh'").Scan(&n))
		require.Equal(t, 1, n)
		other.Close()

		drop()
		dropped = true
		if d == store.SQLite {
			_, err := os.Stat(filepath.Dir(dsn))
			require.ErrorIs(t, err, os.ErrNotExist)
			return
		}
		_, err = store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
		require.Error(t, err, "the database is dropped")
	})
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct {
		d         store.Dialect
		dsn, want string
	}{
		{store.PgSQL, "postgres://u:p@db:5432/test?sslmode=disable", "postgres://u:p@db:5432/tripin_bench_1?sslmode=disable"},
		{store.PgSQL, "host=db user=u dbname=test sslmode=disable", "host=db user=u sslmode=disable dbname=tripin_bench_1"},
		{store.MySQL, "root@tcp(127.0.0.1:3306)/test", "root@tcp(127.0.0.1:3306)/tripin_bench_1"},
	} {
		got, err := withDatabase(tc.d, tc.dsn, "tripin_bench_1")
		require.NoError(t, err, tc.dsn)
		require.Equal(t, tc.want, got)
	}
	_, err := withDatabase(store.MySQL, "not a dsn", "x")
	require.Error(t, err)
}

// TestPercentiles checks the figures every result prints: nearest-rank
// percentiles and the median of an even count.
func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 200; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond+500*time.Microsecond)
	}
	require.Equal(t, 100.5, percentileMS(lat, 50))
	require.Equal(t, 180.5, percentileMS(lat, 90))
	require.Equal(t, 198.5, percentileMS(lat, 99))
	require.Equal(t, 200.5, percentileMS(lat, 100))
	require.Equal(t, 1.5, percentileMS(lat[:1], 99))
	require.Zero(t, percentileMS(nil, 50))

	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	require.Equal(t, 3.0, median([]float64{5, 1, 3}))
	require.Zero(t, median(nil))
	require.Equal(t, 1.24, round2(1.235000001))
}
