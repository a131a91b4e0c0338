package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

func TestQueueStatsWorkers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		o := newOpsCLI(t, d, nil)
		o.job("emails", 0, false)
		require.Contains(t, o.mustRun("queue", "stats"), "No workers or schedulers have sent a heartbeat in the last 1m0s.")
		require.Equal(t, "[]\n", o.mustRun("queue", "stats", "--workers"))

		reg := dbdriver.NewRegistry(o.db.DB)
		for _, p := range []*driver.Process{
			{ID: "web-1:101:aa", Kind: driver.ProcessWorker, Host: "web-1", PID: 101, Queues: []string{"emails", "default"},
				Concurrency: 8, Running: 2, Jobs: []string{"SendInvoiceEmail#1", "ExpireBooking#2"}},
			{ID: "web-1:102:bb", Kind: driver.ProcessScheduler, Host: "web-1", PID: 102},
			{ID: "web-9:103:cc", Kind: driver.ProcessWorker, Host: "web-9", PID: 103, Queues: []string{"default"}, Concurrency: 1},
		} {
			require.NoError(t, reg.ProcessHeartbeat(ctx, p))
		}
		// web-9's worker stopped sending heartbeats five minutes ago.
		_, err := o.db.ExecContext(ctx, o.db.Rebind("UPDATE queue_processes SET last_heartbeat = last_heartbeat - 300 WHERE id = ?"), "web-9:103:cc")
		require.NoError(t, err)

		out := o.mustRun("queue", "stats")
		require.Less(t, strings.Index(out, "OLDEST WAIT"), strings.Index(out, "WORKERS"), "the workers follow the queues:\n%s", out)
		require.Contains(t, out, "KIND")
		require.Contains(t, out, "LAST HEARTBEAT")
		require.Regexp(t, `worker\s+web-1\s+101\s+emails,default\s+8\s+2\s+\ds ago`, out)
		require.Regexp(t, `scheduler\s+web-1\s+102\s+-\s+0\s+0\s+\ds ago`, out)
		require.NotContains(t, out, "web-9", "a stale worker is listed")

		// --json keeps its shape: the queues only.
		stats := decodeList(t, o.mustRun("queue", "stats", "--json"))
		require.Len(t, stats, 2)
		for _, s := range stats {
			require.ElementsMatch(t, []string{"connection", "queue", "size", "pending", "delayed", "reserved", "failed", "oldest_wait_seconds", "paused"}, keys(s))
		}

		procs := decodeList(t, o.mustRun("queue", "stats", "--workers"))
		require.Len(t, procs, 2)
		byID := map[string]map[string]any{}
		for _, p := range procs {
			require.ElementsMatch(t, []string{"id", "kind", "host", "pid", "queues", "concurrency", "running", "jobs", "started_at", "last_heartbeat", "age_seconds"}, keys(p))
			byID[p["id"].(string)] = p
		}
		w := byID["web-1:101:aa"]
		require.Equal(t, "worker", w["kind"])
		require.EqualValues(t, 101, w["pid"])
		require.Equal(t, []any{"emails", "default"}, w["queues"])
		require.EqualValues(t, 8, w["concurrency"])
		require.EqualValues(t, 2, w["running"])
		require.Equal(t, []any{"SendInvoiceEmail#1", "ExpireBooking#2"}, w["jobs"])
		require.Less(t, w["age_seconds"].(float64), 5.0)
		s := byID["web-1:102:bb"]
		require.Equal(t, "scheduler", s["kind"])
		require.Equal(t, []any{}, s["queues"])
		require.Equal(t, []any{}, s["jobs"])
	})
}
