package cli

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/bench"
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
