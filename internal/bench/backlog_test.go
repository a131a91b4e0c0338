package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
)

// TestSeedBacklog: the server-generated backlog is the jobs asked for, in
// several chunks: N pending on the backlog queue, M delayed by about an
// hour on the measured queue, each with its own uuid, none pending there.
func TestSeedBacklog(t *testing.T) {
	defer func(n int) { backlogChunkRows = n }(backlogChunkRows)
	backlogChunkRows = 400
	check := func(t *testing.T, o QueueOptions) {
		ctx := context.Background()
		o.Backlog, o.Delayed = 1234, 567
		bdb, err := openBenchDB(ctx, o)
		require.NoError(t, err)
		defer bdb.drop()
		d, closeDriver, err := newBenchDriver(ctx, o, bdb, bdb.db)
		require.NoError(t, err)
		defer closeDriver()
		require.NoError(t, seedBacklog(ctx, o, bdb, d))

		stats, err := d.(driver.Queues).QueueStats(ctx, &driver.QueueStatsParams{CountLimit: -1})
		require.NoError(t, err)
		got := map[string]driver.QueueStat{}
		for _, s := range stats {
			got[s.Queue] = *s
		}
		require.Equal(t, driver.QueueStat{Queue: BacklogQueue, Pending: 1234, OldestWait: got[BacklogQueue].OldestWait}, got[BacklogQueue])
		require.Equal(t, driver.QueueStat{Queue: benchQueue, Delayed: 567}, got[benchQueue])
		rows, err := d.(driver.JobBrowser).JobList(ctx, &driver.JobListParams{State: driver.JobStateDelayed, Queue: benchQueue, Limit: 1})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		now, err := bdb.db.Now(ctx)
		require.NoError(t, err)
		require.InDelta(t, backlogDelay.Seconds(), rows[0].AvailableAt.Sub(now).Seconds(), 60, "due in about an hour")
		if o.RedisURL == "" {
			var uuids int
			require.NoError(t, bdb.db.QueryRowContext(ctx, "SELECT COUNT(DISTINCT uuid) FROM jobs").Scan(&uuids))
			require.Equal(t, 1234+567, uuids)

			// Each drain is checked by the ids above the seed: a job of
			// the drain left behind fails it, the seed does not.
			var maxID int64
			require.NoError(t, bdb.db.QueryRowContext(ctx, "SELECT MAX(id) FROM jobs").Scan(&maxID))
			require.Equal(t, maxID, bdb.seededUpTo)
			require.NoError(t, checkDrainedAbove(ctx, bdb.db, bdb.seededUpTo))
			require.NoError(t, checkDrained(ctx, bdb.db, 1234+567))
			c, err := newBenchClientOn(d, func(int, time.Time) {})
			require.NoError(t, err)
			_, err = c.Insert(ctx, benchJob{Seq: 1}, nil)
			require.NoError(t, err)
			require.ErrorContains(t, checkDrainedAbove(ctx, bdb.db, bdb.seededUpTo), "after the drain 1 jobs are left (want 0)")
			require.ErrorContains(t, checkDrained(ctx, bdb.db, 1234+567), "want 1801")
		}
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		o := QueueOptions{Backend: d, DSN: ServerDSN(d, "")}
		if d == store.SQLite {
			o.DSN = t.TempDir()
		}
		check(t, o)
	})
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("TRIPIN_TEST_REDIS_URL")
		if url == "" {
			t.Skip("TRIPIN_TEST_REDIS_URL is not set")
		}
		check(t, QueueOptions{Backend: store.SQLite, DSN: t.TempDir(), RedisURL: url})
	})
}
