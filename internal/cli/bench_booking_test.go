package cli

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestBenchBookingSeeded runs `bench booking --seed-bookings` at a small
// scale on every backend: it measures, seeds, measures again, and the
// seeded rows are in the table with the statuses said, next to the
// bookings both phases made, with every tour's seats accounted for.
func TestBenchBookingSeeded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		const n = 2345
		env, out := bookingTestEnv(t, nil)
		args := []string{"bench", "booking", "--backend", string(d), "--concurrency", "4", "--duration", "300ms",
			"--warmup", "0s", "--tours", "3", "--users", "5", "--seed-bookings", "2345", "--json"}
		switch d {
		case store.MySQL:
			args = append(args, "--dsn", os.Getenv(storetest.MySQLEnv))
		case store.PgSQL:
			args = append(args, "--dsn", os.Getenv(storetest.PgSQLEnv))
		}
		require.NoError(t, Run(context.Background(), env, args), out.String())
		var res bench.BookingResult
		require.NoError(t, json.Unmarshal([]byte(out.String()), &res), out.String())
		require.NotNil(t, res.Empty, "the phase before seeding is reported")
		require.NotNil(t, res.Seed)
		require.Equal(t, n, res.Seed.Bookings)
		require.Equal(t, n, res.Seed.Pending+res.Seed.Paid+res.Seed.Expired)
		require.Greater(t, res.Seed.Pending, 0)
		require.Greater(t, res.Seed.Paid, 0)
		require.Greater(t, res.Seed.Expired, 0)
		require.Greater(t, res.Empty.Requests, 0)
		require.Greater(t, res.Requests, 0)
		require.Equal(t, 0, res.Empty.Errors)
		require.Equal(t, 0, res.Errors, res.FirstFailure)
		require.Greater(t, res.P99SeededOverEmpty, 0.0)

		// Before seeding, the first phase's bookings (HTTP and raw) are
		// marked paid; nothing else in the run pays or expires one. So
		// the paid rows are the seeded ones and the first phase's, the
		// expired ones the seeded ones, and the pending ones the seeded
		// ones plus every booking of the second phase.
		byStatus := res.BookingsByStatus
		require.Greater(t, res.Seed.FirstPhasePaid, res.Empty.Requests, "the raw phase's bookings are settled too")
		require.Equal(t, res.Seed.Paid+res.Seed.FirstPhasePaid, byStatus["paid"], "%v", byStatus)
		require.Equal(t, res.Seed.Expired, byStatus["expired"], "%v", byStatus)
		require.GreaterOrEqual(t, byStatus["pending"], res.Seed.Pending+res.Created, "%v", byStatus)
		require.Len(t, byStatus, 3, "%v", byStatus)
		require.True(t, res.InvariantOK, "capacity = quota + held seats on every tour after seeding")
	})
}

// TestBenchBookingSeedFlagChecked: a negative count is refused before
// anything runs.
func TestBenchBookingSeedFlagChecked(t *testing.T) {
	env, out := bookingTestEnv(t, nil)
	err := Run(context.Background(), env, []string{"bench", "booking", "--seed-bookings", "-1"})
	require.Error(t, err, out.String())
	require.Contains(t, err.Error(), "--seed-bookings")
}
