package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
)

// lockedBuffer is an output buffer safe for the worker's writer goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// queueTestEnv returns a configuration on a fresh, migrated database of
// dialect d.
func queueTestEnv(t *testing.T, d store.Dialect, extra map[string]string) (func() (*Env, *lockedBuffer), *store.DB) {
	t.Helper()
	dsn := storetest.NewDSN(t, d)
	vals := map[string]string{
		"DB_CONNECTION": string(d), "DB_URL": dsn, "DB_DATABASE": dsn,
		"LOG_FILE": filepath.Join(t.TempDir(), "tripin.log"), "DB_QUEUE_RETRY_AFTER": "30",
	}
	for k, v := range extra {
		vals[k] = v
	}
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	newEnv := func() (*Env, *lockedBuffer) {
		out := &lockedBuffer{}
		env := &Env{Stdout: out, Stderr: out, Cfg: cfg}
		t.Cleanup(env.closeAll)
		return env, out
	}
	env, out := newEnv()
	require.NoError(t, Run(context.Background(), env, []string{"migrate"}), out.String())
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return newEnv, db
}

func countRows(t *testing.T, db *store.DB, q string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(q).Scan(&n))
	return n
}

func TestQueuePushAndWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		newEnv, db := queueTestEnv(t, d, nil)
		ctx := context.Background()

		env, out := newEnv()
		require.NoError(t, Run(ctx, env, []string{"queue:push", "noop", "--count", "3"}))
		require.Contains(t, out.String(), "Pushed 3 noop jobs (ids 1–3).")
		env, _ = newEnv()
		require.NoError(t, Run(ctx, env, []string{"queue", "push", "sleep", "--args", `{"ms":5}`, "--queue", "emails"}))
		env, _ = newEnv()
		require.NoError(t, Run(ctx, env, []string{"queue", "push", "fail", "--tries", "1"}))
		require.Equal(t, 5, countRows(t, db, "SELECT COUNT(*) FROM jobs"))

		env, out = newEnv()
		require.NoError(t, Run(ctx, env, []string{"queue", "work", "database", "--queue", "emails,default", "--stop-when-empty", "--json", "--concurrency", "1"}))
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &m), l)
			lines = append(lines, m)
		}
		require.Len(t, lines, 10, out.String())
		require.Equal(t, "sleep", lines[0]["job"], "emails comes first")
		require.Equal(t, "running", lines[0]["status"])
		require.Equal(t, "done", lines[1]["status"])
		require.Equal(t, "failed", lines[9]["status"])
		require.Equal(t, "the fail job always fails", lines[9]["error"])
		require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"))
		require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs"))
	})
}

func TestQueuePushRejectsBadInput(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, nil)
	ctx := context.Background()
	cases := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"queue", "push", "nope"}, `unknown job kind "nope"; known kinds: ExpireBooking, ExpireSnapTransaction, ExpireUnpaidBookings, FaultHold, FaultLedger, MonitorQueues, PruneOldRecords, SendETicketEmail, SendInvoiceEmail, SendOpsNotifications, fail, noop, sleep`, 1},
		{[]string{"queue", "push", "sleep", "--args", `{"ms":`}, "--args is not valid JSON", 2},
		{[]string{"queue", "push", "sleep", "--args", `{"ms":"ten"}`}, "sleep args", 1},
		{[]string{"queue", "push", "sleep", "--args", `{"seconds":1}`}, `unknown field "seconds"`, 1},
		{[]string{"queue", "push"}, "want exactly one job kind", 2},
		{[]string{"queue", "push", "noop", "--count", "0"}, "--count", 2},
		{[]string{"queue", "push", "noop", "--delay", "soon"}, "neither seconds nor a duration", 2},
		{[]string{"queue", "push", "noop", "--tries", "-1"}, "--tries", 2},
	}
	for _, tc := range cases {
		env, _ := newEnv()
		err := Run(ctx, env, tc.args)
		require.ErrorContains(t, err, tc.want, tc.args)
		require.Equal(t, tc.code, exitCode(&bytes.Buffer{}, err), tc.args)
	}
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "nothing inserted")
}

func TestQueuePushOptions(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, nil)
	env, out := newEnv()
	require.NoError(t, Run(context.Background(), env, []string{"queue", "push", "noop", "--delay", "1m", "--tries", "0", "--json"}))
	var res struct {
		Kind string
		IDs  []int64
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	require.Equal(t, "noop", res.Kind)
	require.Len(t, res.IDs, 1)
	var payload string
	var delay int64
	require.NoError(t, db.QueryRow("SELECT payload, available_at - created_at FROM jobs").Scan(&payload, &delay))
	require.Contains(t, payload, `"maxTries":0`)
	require.InDelta(t, 60, delay, 1)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func TestQueueWorkStopsOnSignalAfterRunningJob(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, nil)
	env, _ := newEnv()
	require.NoError(t, Run(context.Background(), env, []string{"queue", "push", "sleep", "--args", `{"ms":400}`}))

	ctx, cancel := context.WithCancel(context.Background())
	env, out := newEnv()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env, []string{"queue:work", "--sleep", "0.1"}) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "RUNNING") }, 10*time.Second, 5*time.Millisecond)
	cancel() // SIGTERM
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("queue work did not stop")
	}
	require.Contains(t, out.String(), "Processing jobs from the [default] queue.")
	require.Regexp(t, `sleep \.+ \d+\.\d\dms DONE`, out.String())
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "the running job finished")
}

func TestQueueRestartStopsWorkers(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, nil)
	env, _ := newEnv()
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), env, []string{"queue", "work", "--quiet"}) }()
	// The worker reads the signal it starts with before it registers its
	// process row: a restart broadcast after the row appears is news to it.
	waitUntil(t, 30*time.Second, "the worker's process row", func() bool {
		return countRows(t, db, "SELECT COUNT(*) FROM queue_processes WHERE kind = 'worker'") == 1
	})
	renv, rout := newEnv()
	require.NoError(t, Run(context.Background(), renv, []string{"queue:restart"}))
	require.Contains(t, rout.String(), "Broadcasting queue restart signal.")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not exit after queue restart")
	}
}

func TestQueueWorkMemoryLimitExits12(t *testing.T) {
	newEnv, _ := queueTestEnv(t, store.SQLite, nil)
	env, _ := newEnv()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, env, []string{"queue", "work", "--memory", "1", "--quiet"})
	require.True(t, errors.Is(err, queue.ErrMemoryExceeded), "%v", err)
	require.Equal(t, 12, exitCode(&bytes.Buffer{}, err))
}

func TestQueueWorkUsage(t *testing.T) {
	newEnv, _ := queueTestEnv(t, store.SQLite, nil)
	for _, args := range [][]string{
		{"queue", "work", "--concurrency", "0"},
		{"queue", "work", "--backoff", "10,x"},
		{"queue", "work", "--timeout", "-1"},
		{"queue", "work", "a", "b"},
		{"queue", "work", "nosuch"},
	} {
		env, _ := newEnv()
		err := Run(context.Background(), env, args)
		require.Equal(t, 2, exitCode(&bytes.Buffer{}, err), "%v: %v", args, err)
	}
	env, _ := newEnv()
	err := Run(context.Background(), env, []string{"queue", "work", "sync"})
	require.ErrorContains(t, err, "sync connection")
}

func TestQueuePushSyncRunsInline(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{"QUEUE_CONNECTION": "sync"})
	env, out := newEnv()
	require.NoError(t, Run(context.Background(), env, []string{"queue", "push", "sleep", "--args", `{"ms":1}`, "--count", "2"}))
	require.Contains(t, out.String(), "Ran 2 sleep jobs inline")
	env, _ = newEnv()
	require.ErrorContains(t, Run(context.Background(), env, []string{"queue", "push", "fail"}), "always fails")
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM jobs"))
}

func TestQueueWorkFlagsApplyToJobsWithoutOptions(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, nil)
	ctx := context.Background()
	env, _ := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "push", "fail"}))
	env, _ = newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "push", "sleep", "--args", `{"ms":5000}`}))

	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "work", "--tries", "3", "--backoff", "0", "--timeout", "0.2", "--stop-when-empty", "--json"}))
	require.Equal(t, 3, strings.Count(out.String(), `"status":"running","job":"fail"`), "--tries 3")
	require.Equal(t, 3, strings.Count(out.String(), `"status":"running","job":"sleep"`))
	var exc string
	require.NoError(t, db.QueryRow("SELECT exception FROM failed_jobs WHERE payload LIKE '%sleep%'").Scan(&exc))
	require.Contains(t, exc, "timed out after 200ms", "--timeout cut the 5 s sleep short")
	require.Equal(t, 2, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs"))
}
