package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// seedPruneRows writes, on the database clock, a failed job and a
// rejected payment notification on either side of their default
// retentions (7 days each).
func seedPruneRows(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	now, err := db.Now(ctx)
	require.NoError(t, err)
	for uuid, age := range map[string]time.Duration{"old": 8 * 24 * time.Hour, "new": time.Hour} {
		var at any = now.Add(-age).UTC()
		if db.Dialect == store.SQLite {
			at = now.Add(-age).UTC().Format(time.DateTime)
		}
		_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (?, 'database', 'default', '{}', 'boom', ?)`), uuid, at)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, db.Rebind(`INSERT INTO payment_notifications (order_id, outcome, payload, received_at)
VALUES (?, 'bad_signature', '{}', ?)`), uuid, now.Add(-age).UTC())
		require.NoError(t, err)
	}
}

// prunedRows reports which of the seeded rows are left.
func prunedRows(t *testing.T, db *store.DB) (failed, notifications int) {
	return countRows(t, db, "SELECT COUNT(*) FROM failed_jobs"), countRows(t, db, "SELECT COUNT(*) FROM payment_notifications")
}

// TestPruneOldRecordsThroughTheScheduler runs the hourly prune as cron
// does: `schedule run` on the hour dispatches it (and not at five past),
// then `queue work` runs it and the old rows are gone, the new ones kept.
// On the sync connection `schedule run` runs it inline. With jobs in Redis
// the job goes through Redis while the rows it prunes are in the database.
func TestPruneOldRecordsThroughTheScheduler(t *testing.T) {
	type setup struct {
		name    string
		dialect store.Dialect
		extra   map[string]string
	}
	var setups []setup
	for _, d := range storetest.Dialects() {
		setups = append(setups, setup{"database/" + string(d), d, map[string]string{"QUEUE_CONNECTION": "database"}})
	}
	setups = append(setups, setup{"sync/sqlite", store.SQLite, map[string]string{"QUEUE_CONNECTION": "sync"}})
	if url := os.Getenv("TRIPIN_TEST_REDIS_URL"); url != "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		prefix := "tripin:test:" + hex.EncodeToString(b) + ":"
		t.Cleanup(func() {
			opts, err := redis.ParseURL(url)
			if err != nil {
				return
			}
			rdb := redis.NewClient(opts)
			defer rdb.Close()
			if keys := redisKeys(t, rdb, prefix); len(keys) > 0 {
				rdb.Del(context.Background(), keys...)
			}
		})
		setups = append(setups, setup{"redis/sqlite", store.SQLite, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": url, "REDIS_QUEUE_PREFIX": prefix}})
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			newEnv, db := queueTestEnv(t, s.dialect, s.extra)
			seedPruneRows(t, db)
			run := func(args ...string) string {
				t.Helper()
				env, out := newEnv()
				require.NoError(t, Run(ctx, env, args), out.String())
				return out.String()
			}
			events := func(out string) map[string]string {
				var lines []scheduleRunLine
				require.NoError(t, json.Unmarshal([]byte(out), &lines), out)
				m := map[string]string{}
				for _, l := range lines {
					m[l.Event] = l.Outcome
				}
				return m
			}

			got := events(run("schedule", "run", "--json", "--time", "2026-11-27T10:05:00+07:00"))
			require.NotContains(t, got, pruneOldRecordsEvent, "not due at five past")
			got = events(run("schedule", "run", "--json", "--time", "2026-11-27T11:00:00+07:00"))
			require.Equal(t, "dispatched", got[pruneOldRecordsEvent])

			if s.extra["QUEUE_CONNECTION"] != "sync" {
				failed, notes := prunedRows(t, db)
				require.Equal(t, 2, failed, "dispatched, not run yet")
				require.Equal(t, 2, notes)
				// While its job waits, the next hour's tick skips the event.
				if s.extra["QUEUE_CONNECTION"] == "database" {
					got = events(run("schedule", "run", "--json", "--time", "2026-11-27T12:00:00+07:00"))
					require.Equal(t, "overlapping", got[pruneOldRecordsEvent])
				}
				run("queue", "work", "--queue", "default", "--stop-when-empty", "--quiet")
			}
			failed, notes := prunedRows(t, db)
			require.Equal(t, 1, failed, "the old failed job is pruned, the new one kept")
			require.Equal(t, 1, notes, "the old rejected notification is pruned, the new one kept")
			require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs WHERE uuid = 'new'"))

			// Its worker logged what it deleted, table by table.
			b, err := os.ReadFile(newEnvLogFile(t, newEnv))
			require.NoError(t, err)
			require.Contains(t, string(b), `"msg":"retention: pruned","table":"failed_jobs","rows":1`)
			require.True(t, strings.Contains(string(b), `"table":"payment_notifications (rejected)","rows":1`), string(b))
		})
	}
}

// newEnvLogFile returns the LOG_FILE of the environments newEnv makes.
func newEnvLogFile(t *testing.T, newEnv func() (*Env, *lockedBuffer)) string {
	env, _ := newEnv()
	cfg, err := env.Config()
	require.NoError(t, err)
	return cfg.LogFile
}

func TestDBPruneCommand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		newEnv, db := queueTestEnv(t, d, map[string]string{"PAYMENT_REJECTED_NOTIFICATIONS_RETENTION_DAYS": "0"})
		seedPruneRows(t, db)
		env, out := newEnv()
		require.NoError(t, Run(context.Background(), env, []string{"db", "prune"}), out.String())
		require.Regexp(t, `failed_jobs +1 rows`, out.String())
		require.NotContains(t, out.String(), "(rejected)", "a retention of 0 keeps them: no prune runs")
		require.Contains(t, out.String(), "Pruned 1 rows in")
		failed, notes := prunedRows(t, db)
		require.Equal(t, 1, failed)
		require.Equal(t, 2, notes)

		env, out = newEnv()
		require.NoError(t, Run(context.Background(), env, []string{"db:prune", "--json"}), out.String())
		var rep struct {
			Tables []struct {
				Table string `json:"table"`
				Rows  int64  `json:"rows"`
			} `json:"tables"`
			Rows int64 `json:"rows"`
		}
		require.NoError(t, json.Unmarshal([]byte(out.String()), &rep), out.String())
		require.Zero(t, rep.Rows, "nothing left to prune")
		require.NotEmpty(t, rep.Tables)
	})
}

// TestDashboardListsThePrune: the dashboard serve mounts shows the hourly
// prune on its schedule page, with its last run once the scheduler ran it.
func TestDashboardListsThePrune(t *testing.T) {
	ctx := context.Background()
	newEnv, db := queueTestEnv(t, store.SQLite, nil)
	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"schedule", "run", "--time", "2026-11-27T11:00:00+07:00"}), out.String())
	require.Contains(t, out.String(), "prune-old-records  dispatched")

	env, _ = newEnv()
	a, err := openApp(ctx, env, app.Options{DB: db, Web: true})
	require.NoError(t, err)
	defer env.closeAll()
	dash, err := newDashboard(a)
	require.NoError(t, err)
	// Stored directly: hashing a password would only slow the test.
	admin := &booking.User{Name: "Ops", Email: "ops@example.com", IsAdmin: true, PasswordHash: "!", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	require.NoError(t, db.UserCreate(ctx, admin))
	tok, err := a.Accounts.IssueToken(ctx, admin.ID, "dashboard")
	require.NoError(t, err)

	r := httptest.NewRequest("GET", "/admin/schedule", nil)
	r.AddCookie(&http.Cookie{Name: "tripin_admin", Value: tok})
	w := httptest.NewRecorder()
	dash.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	page := w.Body.String()
	require.Contains(t, page, "prune-old-records")
	require.Contains(t, page, "0 * * * *")
	i := strings.Index(page, "prune-old-records")
	require.Contains(t, page[i:], "dispatched", "the last run is shown")
}

// TestBenchPruneSmall runs the prune benchmark at a tiny size: every old
// row goes, the recent ones stay, and the bookings beside it balance.
func TestBenchPruneSmall(t *testing.T) {
	env, out := scheduleTestEnv(t, map[string]string{})
	require.NoError(t, Run(context.Background(), env, []string{"bench", "prune", "--backend", "sqlite", "--rows", "300",
		"--chunk", "100", "--concurrency", "2", "--duration", "100ms", "--json"}), out.String())
	var res bench.PruneResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	require.Equal(t, int64(600), res.PrunedRows)
	require.True(t, res.KeptOK)
	require.True(t, res.InvariantOK)
	require.Len(t, res.Phases, 3)
	require.Positive(t, res.Phases[0].Bookings)
}
