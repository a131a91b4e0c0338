package cli

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/store"
)

// TestBenchQueueBacklogSmoke runs `bench queue --backlog --delayed` at a
// small scale on every available backend: the fresh jobs drain beside the
// seeded ones (the command checks that exactly the backlog is left), and
// the result has the baseline, the backlog and their ratios.
func TestBenchQueueBacklogSmoke(t *testing.T) {
	backends := map[string][]string{"sqlite": {"--dsn", t.TempDir()}}
	if dsn := os.Getenv("TRIPIN_TEST_MYSQL_DSN"); dsn != "" {
		backends["mysql"] = []string{"--dsn", dsn}
	}
	if dsn := os.Getenv("TRIPIN_TEST_PGSQL_DSN"); dsn != "" {
		backends["pgsql"] = []string{"--dsn", dsn}
	}
	if url := os.Getenv("TRIPIN_TEST_REDIS_URL"); url != "" {
		backends["redis"] = []string{"--dsn", t.TempDir(), "--redis-url", url}
	}
	for backend, extra := range backends {
		t.Run(backend, func(t *testing.T) {
			env, out := bookingTestEnv(t, nil)
			args := append([]string{"bench", "queue", "--backend", backend, "--jobs", "200", "--runs", "1",
				"--concurrency", "10", "--insert-batch", "100", "--latency-jobs", "10", "--latency-interval", "1ms",
				"--backlog", "300", "--delayed", "150", "--json"}, extra...)
			require.NoError(t, Run(context.Background(), env, args), out.String())
			var res bench.QueueResult
			require.NoError(t, json.Unmarshal([]byte(out.String()), &res), out.String())
			require.Equal(t, backend, res.Backend)
			b, base := res.WithBacklog, res.Baseline
			require.NotNil(t, b, out.String())
			require.NotNil(t, base, out.String())
			require.Equal(t, 300, b.Backlog)
			require.Equal(t, 150, b.Delayed)
			require.Zero(t, base.Backlog+base.Delayed)
			for _, r := range []*bench.BacklogResult{base, b} {
				require.Greater(t, r.WorkPerSec, 0.0)
				require.Greater(t, r.LatencyP50MS, 0.0)
				require.LessOrEqual(t, r.LatencyP50MS, r.LatencyP99MS)
				require.Greater(t, r.StatsMS, 0.0)
				require.Greater(t, r.StatsExactMS, 0.0)
				require.Greater(t, r.JobListMS, 0.0)
				require.Greater(t, r.MaxRSSMB, 0.0)
			}
			require.InDelta(t, b.WorkPerSec/base.WorkPerSec, b.WorkRatio, 1e-9)
			require.InDelta(t, base.LatencyP99MS/b.LatencyP99MS, b.P99Ratio, 1e-9)
		})
	}

	env, out := bookingTestEnv(t, nil)
	err := Run(context.Background(), env, []string{"bench", "queue", "--backlog", "-1"})
	require.Error(t, err, out.String())
	require.Contains(t, err.Error(), "--backlog and --delayed must not be negative")
}

// TestQueueStatsCountLimit: above 10,000 jobs `queue stats` shows
// "10000+" and says why, --json adds count_limit, and --exact counts
// every job.
func TestQueueStatsCountLimit(t *testing.T) {
	o := newOpsCLI(t, store.SQLite, nil)
	_, err := o.db.ExecContext(context.Background(), `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10005)
INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts)
SELECT 'bulk', '{}', 0, unixepoch() - 5, unixepoch(), printf('00000000-0000-4000-8000-%012d', n), 'noop', 1 FROM s`)
	require.NoError(t, err)

	out := o.mustRun("queue", "stats")
	require.Regexp(t, `(?m)^database\s+bulk\s+10000\+\s+10000\+\s+0\s+0\s+0\s`, out)
	require.Contains(t, out, "--exact counts every job")

	var stats []map[string]any
	require.NoError(t, json.Unmarshal([]byte(o.mustRun("queue", "stats", "--json")), &stats))
	for _, s := range stats {
		if s["queue"] == "bulk" {
			require.Equal(t, 10001.0, s["pending"])
			require.Equal(t, 10000.0, s["count_limit"])
		} else {
			require.NotContains(t, s, "count_limit", "no count of %v stopped", s["queue"])
		}
	}

	out = o.mustRun("queue", "stats", "--exact")
	require.Regexp(t, `(?m)^database\s+bulk\s+10005\s+10005\s+0\s+0\s+0\s`, out)
	require.NotContains(t, out, "--exact counts every job")
}
