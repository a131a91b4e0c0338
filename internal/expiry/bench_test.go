package expiry

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// benchBookings is how many expired bookings the sweep benchmark expires
// (TRIPIN_BENCH_EXPIRY_N overrides it).
func benchBookings() int {
	if n, err := strconv.Atoi(os.Getenv("TRIPIN_BENCH_EXPIRY_N")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// seedExpired inserts n pending bookings created two hours ago, spread over
// 20 tours whose quotas account for them, with multi-row inserts.
func seedExpired(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &booking.User{Name: "Bench", Email: "bench@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	require.NoError(tb, db.UserCreate(ctx, u))
	const tours = 20
	perTour := (n + tours - 1) / tours
	tourIDs := make([]int64, tours)
	for i := range tourIDs {
		t := &booking.Tour{Title: fmt.Sprint("Tour ", i), Destination: "Bali", DepartureDate: "2030-01-01", Price: 1000,
			Capacity: 2 * perTour, Quota: 2*perTour - perTour, CreatedAt: now, UpdatedAt: now}
		require.NoError(tb, db.TourCreate(ctx, t))
		tourIDs[i] = t.ID
	}
	// The last tour may hold fewer bookings than the others.
	if extra := perTour*tours - n; extra > 0 {
		_, err := db.Exec(db.Rebind("UPDATE tours SET quota = quota + ? WHERE id = ?"), extra, tourIDs[tours-1])
		require.NoError(tb, err)
	}
	created := now.Add(-3 * time.Hour)
	const rowsPerInsert = 1000
	for start := 0; start < n; start += rowsPerInsert {
		end := min(start+rowsPerInsert, n)
		var sb strings.Builder
		sb.WriteString("INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status, expires_at, created_at, updated_at) VALUES ")
		args := make([]any, 0, (end-start)*9)
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, 1, 1000, 1000, 'pending', ?, ?, ?)")
			// Ten milliseconds apart, as real bookings are.
			at := created.Add(time.Duration(i) * 10 * time.Millisecond)
			args = append(args, fmt.Sprintf("BENCH%08d", i), u.ID, tourIDs[i/perTour], at.Add(holdFor), at, at)
		}
		require.NoError(tb, db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, db.Rebind(sb.String()), args...)
			return err
		}))
	}
	requireInvariant(tb, db)
}

// BenchmarkSweep expires 100,000 due bookings per iteration on every
// backend, in set-based chunks of DefaultChunkSize. Run it once per
// backend:
//
//	go test -run '^$' -bench BenchmarkSweep -benchtime 1x ./internal/expiry/
func BenchmarkSweep(b *testing.B) {
	n := benchBookings()
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/set/n=%d", d, n), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				db := storetest.Open(b, d)
				seedExpired(b, db, n)
				deps := Deps{DB: db, Expiry: holdFor}
				x, err := New(deps)
				require.NoError(b, err)
				b.StartTimer()
				res, err := x.Sweep(context.Background())
				b.StopTimer()
				require.NoError(b, err)
				require.Equal(b, n, res.Expired)
				require.Equal(b, (n+DefaultChunkSize-1)/DefaultChunkSize+boolInt(n%DefaultChunkSize == 0), res.Transactions)
				total += res.Duration
				requireInvariant(b, db)
				require.NoError(b, db.Close())
			}
			sec := total.Seconds() / float64(b.N)
			b.ReportMetric(sec, "s/sweep")
			b.ReportMetric(float64(n)/sec, "bookings/s")
		})
	}
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}
