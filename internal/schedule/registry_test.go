package schedule

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// TestRunnerRegistersScheduler: a running scheduler has a row in the
// process registry, renewed by its heartbeats, and loses it on Stop;
// a one-shot tick registers nothing.
func TestRunnerRegistersScheduler(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db, _ := openDB(t, d)
		reg := dbdriver.NewRegistry(db.DB)
		s, err := New(jakarta, Func("x", func(context.Context) error { return nil }).EveryMinute())
		require.NoError(t, err)
		r, err := NewRunner(Config{Schedule: s, DB: db, Registry: reg, HeartbeatInterval: 20 * time.Millisecond})
		require.NoError(t, err)
		list := func() []*driver.Process {
			ps, err := reg.ProcessList(ctx, &driver.ProcessListParams{Kind: driver.ProcessScheduler})
			require.NoError(t, err)
			return ps
		}

		r.RunTick(ctx, time.Now())
		require.Empty(t, list(), "a one-shot tick registered")

		require.NoError(t, r.Start(ctx))
		t.Cleanup(func() { _ = r.Stop(context.Background()) })
		deadline := time.Now().Add(10 * time.Second)
		for len(list()) == 0 {
			require.True(t, time.Now().Before(deadline), "the scheduler never registered")
			time.Sleep(10 * time.Millisecond)
		}
		p := list()[0]
		host, _ := os.Hostname()
		require.Equal(t, host, p.Host)
		require.Equal(t, os.Getpid(), p.PID)
		require.Empty(t, p.Queues)

		// Age the row: the next heartbeats bring it back to now.
		_, err = db.ExecContext(ctx, db.Rebind("UPDATE queue_processes SET last_heartbeat = last_heartbeat - 120 WHERE id = ?"), p.ID)
		require.NoError(t, err)
		for {
			ps := list()
			require.Len(t, ps, 1)
			if ps[0].Age < 5*time.Second {
				break
			}
			require.True(t, time.Now().Before(deadline), "the scheduler's heartbeat stopped (age %v)", ps[0].Age)
			time.Sleep(10 * time.Millisecond)
		}

		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		require.NoError(t, r.Stop(stopCtx))
		require.Empty(t, list(), "Stop left the scheduler's row")
	})
}
