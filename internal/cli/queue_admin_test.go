package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// opsCLI runs commands against a fresh, migrated database of one dialect.
type opsCLI struct {
	t   *testing.T
	db  *store.DB
	cfg *config.Config
}

func newOpsCLI(t *testing.T, d store.Dialect, extra map[string]string) *opsCLI {
	t.Helper()
	dsn := storetest.NewDSN(t, d)
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	vals := map[string]string{"DB_CONNECTION": string(d), "DB_URL": dsn, "LOG_FILE": filepath.Join(t.TempDir(), "tripin.log")}
	for k, v := range extra {
		vals[k] = v
	}
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	return &opsCLI{t: t, db: db, cfg: cfg}
}

// run runs one command and returns its stdout.
func (o *opsCLI) run(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Cfg: o.cfg}
	err := Run(context.Background(), env, args)
	env.closeAll()
	return out.String(), err
}

func (o *opsCLI) mustRun(args ...string) string {
	o.t.Helper()
	out, err := o.run(args...)
	require.NoError(o.t, err, "tripin %s", strings.Join(args, " "))
	return out
}

func (o *opsCLI) count(query string, args ...any) int {
	o.t.Helper()
	var n int
	require.NoError(o.t, o.db.QueryRowContext(context.Background(), o.db.Rebind(query), args...).Scan(&n))
	return n
}

func (o *opsCLI) failedJob(queueName, kind string, age time.Duration) string {
	o.t.Helper()
	id := uuid.NewString()
	now, err := o.db.Now(context.Background())
	require.NoError(o.t, err)
	var at any = now.Add(-age).UTC()
	if o.db.Dialect == store.SQLite {
		at = now.Add(-age).UTC().Format(time.DateTime)
	}
	payload := fmt.Sprintf(`{"uuid":%q,"displayName":%q,"job":%q,"maxTries":3,"timeout":null,"backoff":null,"retryUntil":null,"data":{}}`, id, kind, kind)
	_, err = o.db.ExecContext(context.Background(), o.db.Rebind(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (?, 'database', ?, ?, ?, ?)`), id, queueName, payload, "mail: send: smtp: 550 no such user\ncaused by *errors.errorString: 550", at)
	require.NoError(o.t, err)
	return id
}

func (o *opsCLI) job(queueName string, delay int64, reserved bool) {
	o.t.Helper()
	now, err := o.db.Now(context.Background())
	require.NoError(o.t, err)
	var reservedAt any
	if reserved {
		reservedAt = now.Unix()
	}
	id := uuid.NewString()
	_, err = o.db.ExecContext(context.Background(), o.db.Rebind(`INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at, uuid, kind, max_attempts)
VALUES (?, ?, 0, ?, ?, ?, ?, 'noop', 1)`), queueName, `{"uuid":"`+id+`","displayName":"noop","job":"noop","data":{}}`, reservedAt, now.Unix()+delay, now.Unix(), id)
	require.NoError(o.t, err)
}

func decodeList(t *testing.T, out string) []map[string]any {
	t.Helper()
	var v []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), "output: %s", out)
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestQueueFailedCommands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		o := newOpsCLI(t, d, nil)
		require.Contains(t, o.mustRun("queue", "failed"), "No failed jobs found.")
		require.Equal(t, "[]\n", o.mustRun("queue:failed", "--json"))

		old := o.failedJob("emails", "SendInvoiceEmail", 72*time.Hour)
		mid := o.failedJob("default", "ExpireBooking", 2*time.Hour)
		recent := o.failedJob("emails", "SendETicketEmail", time.Minute)

		out := o.mustRun("queue", "failed")
		require.Contains(t, out, "FAILED AT")
		require.Less(t, strings.Index(out, recent), strings.Index(out, old), "newest first")
		require.Contains(t, out, "mail: send: smtp: 550 no such user")

		list := decodeList(t, o.mustRun("queue", "failed", "--json"))
		require.Len(t, list, 3)
		require.ElementsMatch(t, []string{"id", "uuid", "connection", "queue", "job", "exception", "failed_at"}, keys(list[0]))
		require.Equal(t, recent, list[0]["uuid"])
		require.Equal(t, "database", list[0]["connection"])
		require.Equal(t, "emails", list[0]["queue"])
		require.Equal(t, "SendETicketEmail", list[0]["job"])
		_, err := time.Parse(time.RFC3339, list[0]["failed_at"].(string))
		require.NoError(t, err)
		emails := decodeList(t, o.mustRun("queue", "failed", "--queue", "emails", "--json"))
		require.Len(t, emails, 2)

		// retry by uuid and by row id; a missing id is an error.
		midID := strconv.Itoa(int(list[1]["id"].(float64)))
		out = o.mustRun("queue", "retry", recent, midID)
		require.Contains(t, out, "The failed job ["+recent+"] (SendETicketEmail) has been pushed back onto the [emails] queue.")
		require.Contains(t, out, mid)
		require.Equal(t, 2, o.count("SELECT COUNT(*) FROM jobs WHERE attempts = 0 AND reserved_at IS NULL"))
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM jobs WHERE uuid = ? AND queue = 'emails' AND max_attempts = 3", recent))
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM failed_jobs"))
		_, err = o.run("queue:retry", "999999")
		require.ErrorContains(t, err, "no failed job with ID 999999")
		_, err = o.run("queue", "retry")
		require.Error(t, err)

		// retry all of a queue
		again := o.failedJob("reports", "BuildReport", time.Minute)
		out = o.mustRun("queue", "retry", "all", "--queue", "reports")
		require.Contains(t, out, again)
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM failed_jobs"), "other queues' failed jobs stay")

		// forget
		_, err = o.run("queue", "forget", "no-such-uuid")
		require.ErrorContains(t, err, "no failed job")
		require.Contains(t, o.mustRun("queue:forget", old), "Deleted 1 failed job(s).")
		require.Equal(t, 0, o.count("SELECT COUNT(*) FROM failed_jobs"))

		// flush --hours and flush
		o.failedJob("emails", "A", 5*time.Hour)
		o.failedJob("emails", "B", time.Minute)
		require.Contains(t, o.mustRun("queue", "flush", "--hours", "4"), "Deleted 1 failed job(s) older than 4 hours.")
		require.Contains(t, o.mustRun("queue:flush"), "All failed jobs deleted successfully (1).")

		// prune-failed: 24 hours by default, in chunks
		for range 3 {
			o.failedJob("emails", "C", 30*time.Hour)
		}
		o.failedJob("emails", "D", time.Hour)
		require.Contains(t, o.mustRun("queue", "prune-failed"), "3 entries deleted.")
		require.Contains(t, o.mustRun("queue:prune-failed", "--hours", "0"), "1 entries deleted.")
	})
}

func TestQueueStatsMonitorPauseClear(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		o := newOpsCLI(t, d, nil)
		for range 3 {
			o.job("emails", -10, false)
		}
		o.job("emails", 600, false)
		o.job("emails", 0, true)
		o.job("default", 0, false)
		o.failedJob("emails", "X", time.Minute)

		stats := decodeList(t, o.mustRun("queue", "stats", "--json"))
		byQueue := map[string]map[string]any{}
		for _, s := range stats {
			byQueue[s["queue"].(string)] = s
		}
		e := byQueue["emails"]
		require.ElementsMatch(t, []string{"connection", "queue", "size", "pending", "delayed", "reserved", "failed", "oldest_wait_seconds", "paused"}, keys(e))
		require.EqualValues(t, 5, e["size"])
		require.EqualValues(t, 3, e["pending"])
		require.EqualValues(t, 1, e["delayed"])
		require.EqualValues(t, 1, e["reserved"])
		require.EqualValues(t, 1, e["failed"])
		require.GreaterOrEqual(t, e["oldest_wait_seconds"].(float64), 9.0)
		require.Equal(t, "database", e["connection"])
		require.Contains(t, o.mustRun("queue:stats"), "OLDEST WAIT")

		// monitor: emails over --max 4 alerts (TestNotifyQueueMonitorRecordsBusyQueues
		// follows the alert to the operators' notifications).
		out := o.mustRun("queue", "monitor", "database:default,database:emails", "--max", "4")
		require.Contains(t, out, "ALERT: queue [database:emails] has 5 jobs, more than the threshold of 4.")
		require.NotContains(t, out, "ALERT: queue [database:default]")
		mon := decodeList(t, o.mustRun("queue:monitor", "database:default,emails,empty", "--max", "4", "--json"))
		require.Len(t, mon, 3)
		require.Equal(t, "OK", mon[0]["status"])
		require.Equal(t, "ALERT", mon[1]["status"])
		require.Equal(t, "empty", mon[2]["queue"])
		require.EqualValues(t, 0, mon[2]["size"])
		_, err := o.run("queue", "monitor", "redis:default")
		require.ErrorContains(t, err, "not the configured one")

		// pause / resume
		require.Contains(t, o.mustRun("queue", "pause", "emails"), "Job processing on queue [database:emails] has been paused.")
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM queue_pauses WHERE queue = 'emails'"))
		stats = decodeList(t, o.mustRun("queue", "stats", "--json"))
		for _, s := range stats {
			require.Equal(t, s["queue"] == "emails", s["paused"], "queue %s", s["queue"])
		}
		require.Contains(t, o.mustRun("queue:resume", "database:emails"), "has been resumed")
		require.Equal(t, 0, o.count("SELECT COUNT(*) FROM queue_pauses"))

		// clear
		require.Contains(t, o.mustRun("queue", "clear", "--queue", "emails"), "Cleared 5 jobs from the [database:emails] queue.")
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM jobs"))
		require.Contains(t, o.mustRun("queue:clear"), "Cleared 1 jobs from the [database:default] queue.")
	})
}

func TestQueueClearAsksInProduction(t *testing.T) {
	o := newOpsCLI(t, store.SQLite, map[string]string{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": "SB-Mid-server-test", "APP_KEY": testAppKey})
	o.job("default", 0, false)
	old := confirmInput
	t.Cleanup(func() { confirmInput = old })

	confirmInput = strings.NewReader("no\n")
	out, err := o.run("queue", "clear")
	require.ErrorContains(t, err, "cancelled")
	require.Contains(t, out, "Clear every job of the [default] queue? (yes/no)")
	require.Equal(t, 1, o.count("SELECT COUNT(*) FROM jobs"))

	confirmInput = strings.NewReader("yes\n")
	require.Contains(t, o.mustRun("queue", "clear"), "Cleared 1 jobs")

	o.job("default", 0, false)
	confirmInput = strings.NewReader("")
	require.Contains(t, o.mustRun("queue", "clear", "--force"), "Cleared 1 jobs")
}

func TestQueueBatchCommands(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		o := newOpsCLI(t, d, nil)
		require.Contains(t, o.mustRun("queue", "batches"), "No batches found.")
		require.Equal(t, "[]\n", o.mustRun("queue", "batches", "--json"))
		ctx := context.Background()
		now, err := o.db.Now(ctx)
		require.NoError(t, err)
		insert := func(id, name string, total, pending, failed int, created int64, finished any) {
			_, err := o.db.ExecContext(ctx, o.db.Rebind(`INSERT INTO job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)`), id, name, total, pending, failed, `["f1"]`, created, finished)
			require.NoError(t, err)
		}
		insert("b-old", "invoices", 10, 0, 0, now.Unix()-50*3600, now.Unix()-48*3600)
		insert("b-new", "tickets", 4, 3, 1, now.Unix()-60, nil)

		list := decodeList(t, o.mustRun("queue:batches", "--json"))
		require.Len(t, list, 2)
		require.ElementsMatch(t, []string{"id", "name", "total_jobs", "pending_jobs", "processed_jobs", "failed_jobs", "failed_job_ids", "progress", "created_at", "cancelled_at", "finished_at"}, keys(list[0]))
		require.Equal(t, "b-new", list[0]["id"])
		require.EqualValues(t, 25, list[0]["progress"])
		require.EqualValues(t, 1, list[0]["processed_jobs"])
		require.Equal(t, []any{"f1"}, list[0]["failed_job_ids"])
		require.Nil(t, list[0]["finished_at"])
		require.NotNil(t, list[1]["finished_at"])
		require.Contains(t, o.mustRun("queue", "batches"), "tickets")

		require.Contains(t, o.mustRun("queue", "cancel-batch", "b-new"), "Batch [b-new] cancelled")
		require.Contains(t, o.mustRun("queue", "batches"), "cancelled")
		_, err = o.run("queue", "prune-batches", "--hours", "-1")
		require.Error(t, err)
		require.Contains(t, o.mustRun("queue", "prune-batches", "--hours", "24"), "1 entries deleted.")
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM job_batches WHERE id = 'b-new'"))
		require.Contains(t, o.mustRun("queue:prune-batches", "--hours", "0"), "1 entries deleted.")
	})
}

// TestQueueRetryThroughWorker goes round the loop an operator does: a job
// fails in `queue work`, shows in `queue failed`, goes back with `queue
// retry` and is worked again.
func TestQueueRetryThroughWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		o := newOpsCLI(t, d, nil)
		o.mustRun("queue", "push", "fail", "--queue", "emails", "--tries", "1", "--args", `{"message":"smtp: 550 mailbox unavailable"}`)
		o.mustRun("queue", "work", "--queue", "emails", "--stop-when-empty", "--quiet")
		failed := decodeList(t, o.mustRun("queue", "failed", "--json"))
		require.Len(t, failed, 1)
		require.Equal(t, "fail", failed[0]["job"])
		require.Equal(t, "emails", failed[0]["queue"])
		require.Contains(t, failed[0]["exception"], "smtp: 550 mailbox unavailable")
		u := failed[0]["uuid"].(string)

		require.Contains(t, o.mustRun("queue:retry", "all"), "The failed job ["+u+"] (fail) has been pushed back onto the [emails] queue.")
		stats := decodeList(t, o.mustRun("queue", "stats", "--json"))
		var emails map[string]any
		for _, s := range stats {
			if s["queue"] == "emails" {
				emails = s
			}
		}
		require.NotNil(t, emails)
		require.EqualValues(t, 1, emails["pending"])
		require.EqualValues(t, 0, emails["failed"])

		// It runs again (and, being the always-failing job, fails again
		// under the same uuid).
		o.mustRun("queue", "work", "--queue", "emails", "--stop-when-empty", "--quiet")
		require.Equal(t, 0, o.count("SELECT COUNT(*) FROM jobs"))
		require.Equal(t, 1, o.count("SELECT COUNT(*) FROM failed_jobs WHERE uuid = ?", u))
	})
}

// TestProductionCommandsWithoutMidtrans: in production without Midtrans
// settings, the commands that neither take payments nor run their jobs
// work (migrate, queue stats and push, schedule list, db prune), and those
// that do (queue work, schedule run, serve) refuse with one line naming
// the key, before touching anything.
func TestProductionCommandsWithoutMidtrans(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{"APP_ENV": "production", "APP_KEY": testAppKey, "APP_URL": "https://tripin.example"})
	ctx := context.Background()
	for _, args := range [][]string{{"migrate"}, {"queue", "stats"}, {"queue", "push", "noop"}, {"schedule", "list"}, {"db", "prune"}} {
		env, out := newEnv()
		require.NoError(t, Run(ctx, env, args), "%v: %s", args, out.String())
	}
	for _, args := range [][]string{{"queue", "work", "--stop-when-empty"}, {"schedule", "run"}, {"serve", "--addr", "127.0.0.1:0"}} {
		env, out := newEnv()
		err := Run(ctx, env, args)
		require.ErrorContains(t, err, "MIDTRANS_SERVER_KEY: is required when APP_ENV=production", "%v: %s", args, out.String())
	}
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM jobs"), "the pushed job waits for a worker")
}
