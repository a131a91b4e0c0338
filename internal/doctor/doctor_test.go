package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/driver/tripinredis/redistest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

const retentionTask = "prune-old-records"

// cfg builds a configuration from vals, failing the test on an error.
func cfg(t *testing.T, vals map[string]string) *config.Config {
	t.Helper()
	c, err := config.FromMap(vals)
	require.NoError(t, err)
	return c
}

// run runs one check with the defaults filled in.
func run(t *testing.T, check func(context.Context, *Params) Result, p Params) Result {
	t.Helper()
	p.defaults()
	if p.RetentionTask == "" {
		p.RetentionTask = retentionTask
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return check(ctx, &p)
}

func requireProblem(t *testing.T, r Result, parts ...string) {
	t.Helper()
	require.Equal(t, StatusProblem, r.Status, "%+v", r)
	require.Len(t, r.Problems, 1, "%+v", r)
	for _, part := range parts {
		require.Contains(t, r.Problems[0], part)
	}
}

func requireOK(t *testing.T, r Result) {
	t.Helper()
	require.Equal(t, StatusOK, r.Status, "%+v", r)
	require.Empty(t, r.Problems)
	require.NotEmpty(t, r.Detail)
}

func TestConfig(t *testing.T) {
	c, errs := config.DiagnoseMap(map[string]string{"APP_ENV": "production", "MAIL_PORT": "99999", "APP_KEY": "base64:" + strings.Repeat("A", 44)})
	var lines []string
	for _, e := range errs {
		lines = append(lines, e.Error())
	}
	r := run(t, checkConfig, Params{Config: c, ConfigErrors: lines})
	require.Equal(t, StatusProblem, r.Status)
	require.Equal(t, []string{
		"config: MAIL_PORT: must be between 1 and 65535",
		"config: MIDTRANS_SERVER_KEY: is required when APP_ENV=production",
	}, r.Problems)

	r = run(t, checkConfig, Params{Config: cfg(t, map[string]string{"APP_ENV": "testing", "QUEUE_CONNECTION": "sync"})})
	requireProblem(t, r, "QUEUE_CONNECTION=sync in testing")

	prod := cfg(t, map[string]string{"APP_ENV": "production", "APP_DEBUG": "true", "MIDTRANS_SERVER_KEY": "Mid-server-x",
		"APP_KEY": "base64:" + strings.Repeat("A", 44)})
	requireProblem(t, run(t, checkConfig, Params{Config: prod}), "APP_DEBUG=true in production")

	requireOK(t, run(t, checkConfig, Params{Config: cfg(t, nil)}))
	requireProblem(t, run(t, checkConfig, Params{}), "no configuration")
}

func TestDatabaseUnreachable(t *testing.T) {
	// A port with nothing behind it: the open fails as it would with the
	// server down, and the password in the DSN never shows.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	dsn := "tripin:s3cret-pw@tcp(" + addr + ")/tripin"
	c := cfg(t, map[string]string{"DB_CONNECTION": "mysql", "DB_URL": dsn})
	_, openErr := store.Open(context.Background(), store.OpenParams{Dialect: store.MySQL, DSN: dsn})
	require.Error(t, openErr)
	r := run(t, checkDatabase, Params{Config: c, DBErr: openErr})
	requireProblem(t, r, "cannot connect", addr)
	require.NotContains(t, r.Problems[0], "s3cret-pw")

	// The checks that need the database say so instead of failing again.
	for _, check := range []func(context.Context, *Params) Result{checkMigrations, checkClock, checkWorkers, checkScheduler, checkRetention} {
		r := run(t, check, Params{Config: c, DBErr: openErr})
		require.Equal(t, StatusSkipped, r.Status)
	}
}

func TestDatabaseVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		r := run(t, checkDatabase, Params{DB: db})
		requireOK(t, r)
		version, err := ServerVersion(context.Background(), db)
		require.NoError(t, err)
		require.Contains(t, r.Detail, version)
	})
}

func TestSkipLockedProblem(t *testing.T) {
	cases := []struct {
		d       store.Dialect
		version string
		problem string // a part of the problem, or "" for none
	}{
		{store.MySQL, "8.0.0", "MySQL 8.0.0 is too old"},
		{store.MySQL, "8.0.1", ""},
		{store.MySQL, "5.7.44-log", "MySQL 5.7.44 is too old"},
		{store.MySQL, "10.5.21-MariaDB", "MariaDB 10.5.21 is too old"},
		{store.MySQL, "10.6.0-MariaDB-1:10.6.0+maria~focal", ""},
		{store.MySQL, "11.4.2-MariaDB", ""},
		{store.MySQL, "garbage", "cannot read server version"},
		{store.PgSQL, "9.4.26", "PostgreSQL 9.4.26 is too old"},
		{store.PgSQL, "9.5.0", ""},
		{store.PgSQL, "8.4.22", "is too old"},
		{store.PgSQL, "16.4 (Debian 16.4-1.pgdg120+1)", ""},
		{store.PgSQL, "17devel", ""},
		{store.PgSQL, "x", "cannot read the PostgreSQL version"},
		{store.SQLite, "3.46.0", ""},
	}
	for _, c := range cases {
		got := SkipLockedProblem(c.d, c.version)
		if c.problem == "" {
			require.Empty(t, got, "%s %s", c.d, c.version)
		} else {
			require.Contains(t, got, c.problem, "%s %s", c.d, c.version)
		}
	}
}

func TestMigrationsPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		requireOK(t, run(t, checkMigrations, Params{DB: db}))
		all, err := store.AllMigrations(d)
		require.NoError(t, err)
		last := all[len(all)-1].Name
		_, err = db.ExecContext(context.Background(), db.Rebind("DELETE FROM migrations WHERE migration = ?"), last)
		require.NoError(t, err)
		requireProblem(t, run(t, checkMigrations, Params{DB: db}), "1 migration(s) not applied", last, "tripin migrate")
	})
}

func TestClockSkew(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		requireOK(t, run(t, checkClock, Params{DB: db}))
		ahead := func() time.Time { return time.Now().Add(10 * time.Second) }
		requireProblem(t, run(t, checkClock, Params{DB: db, Now: ahead}), "ahead of the database's", "more than 2s")
		behind := func() time.Time { return time.Now().Add(-5 * time.Second) }
		requireProblem(t, run(t, checkClock, Params{DB: db, Now: behind}), "behind the database's")
	})
}

func TestSMTP(t *testing.T) {
	r := run(t, checkSMTP, Params{Config: cfg(t, map[string]string{"MAIL_MAILER": "log"})})
	require.Equal(t, StatusSkipped, r.Status)

	for _, enc := range []string{"none", "tls", "ssl"} {
		srv := mailtest.Start(t, mailtest.Options{Encryption: enc})
		r := run(t, checkSMTP, Params{Config: cfg(t, srv.ConfigValues()), SMTPTLSConfig: srv.ClientTLSConfig()})
		requireOK(t, r)
		require.Zero(t, srv.Attempts(), "no message is sent")
	}

	// A server that offers no STARTTLS refuses what MAIL_ENCRYPTION=tls
	// needs.
	plain := mailtest.Start(t, mailtest.Options{})
	vals := plain.ConfigValues()
	vals["MAIL_ENCRYPTION"] = "tls"
	requireProblem(t, run(t, checkSMTP, Params{Config: cfg(t, vals)}), "does not offer STARTTLS")

	// A certificate the mailer would not trust fails the STARTTLS.
	tlsSrv := mailtest.Start(t, mailtest.Options{Encryption: "tls"})
	requireProblem(t, run(t, checkSMTP, Params{Config: cfg(t, tlsSrv.ConfigValues())}), "STARTTLS", "certificate")

	// A server that is down.
	down := mailtest.Start(t, mailtest.Options{})
	vals = down.ConfigValues()
	down.Close()
	requireProblem(t, run(t, checkSMTP, Params{Config: cfg(t, vals)}), "cannot connect", down.Addr())
}

func TestRedis(t *testing.T) {
	r := run(t, checkRedis, Params{Config: cfg(t, nil)})
	require.Equal(t, StatusSkipped, r.Status)

	redisCfg := func(url string) *config.Config {
		return cfg(t, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": url})
	}
	// Servers of the test's own, started with the settings under test:
	// the shared Redis is only ever read.
	evicting := redistest.Start(t, "--maxmemory-policy", "allkeys-lru", "--appendonly", "yes")
	requireProblem(t, run(t, checkRedis, Params{Config: redisCfg(evicting.URL())}), "maxmemory-policy is allkeys-lru", "noeviction")

	volatile := redistest.Start(t, "--save", "", "--appendonly", "no")
	requireProblem(t, run(t, checkRedis, Params{Config: redisCfg(volatile.URL())}), "neither AOF", "restart of Redis loses every job")

	good := redistest.Start(t, "--maxmemory-policy", "noeviction", "--appendonly", "yes")
	r = run(t, checkRedis, Params{Config: redisCfg(good.URL())})
	requireOK(t, r)
	require.Contains(t, r.Detail, "persistence aof")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	requireProblem(t, run(t, checkRedis, Params{Config: redisCfg("redis://:s3cret-pw@" + addr + "/0")}), "cannot connect to Redis", addr)

	if url := os.Getenv("TRIPIN_TEST_REDIS_URL"); url != "" {
		// The shared server answers the reads; whatever its settings, the
		// check passes or names them.
		r := run(t, checkRedis, Params{Config: redisCfg(url)})
		require.Contains(t, []Status{StatusOK, StatusProblem}, r.Status)
	}
}

// heartbeat registers a process of kind and ages its heartbeat by age.
func heartbeat(t *testing.T, db *store.DB, kind string, age time.Duration) {
	t.Helper()
	ctx := context.Background()
	reg := dbdriver.NewRegistry(db.DB)
	id := fmt.Sprintf("host-%s-%d", kind, time.Now().UnixNano())
	require.NoError(t, reg.ProcessHeartbeat(ctx, &driver.Process{ID: id, Kind: kind, Host: "web-1", PID: 4242, StartedAt: time.Now()}))
	_, err := db.ExecContext(ctx, db.Rebind("UPDATE queue_processes SET last_heartbeat = last_heartbeat - ? WHERE id = ?"), int64(age/time.Second), id)
	require.NoError(t, err)
}

func TestWorkers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		requireProblem(t, run(t, checkWorkers, Params{DB: db}), "no worker process has registered")
		heartbeat(t, db, driver.ProcessWorker, 10*time.Minute)
		heartbeat(t, db, driver.ProcessScheduler, 0) // not a worker
		requireProblem(t, run(t, checkWorkers, Params{DB: db}), "all 1 worker process(es) are stale", "web-1 pid 4242", "10m0s old")
		heartbeat(t, db, driver.ProcessWorker, 0)
		r := run(t, checkWorkers, Params{DB: db})
		requireOK(t, r)
		require.Contains(t, r.Detail, "1 worker process(es) alive")

		r = run(t, checkWorkers, Params{DB: db, Config: cfg(t, map[string]string{"QUEUE_CONNECTION": "sync"})})
		require.Equal(t, StatusSkipped, r.Status)
	})
}

// scheduleRun records a run of the task name that started age ago by the
// database clock.
func scheduleRun(t *testing.T, db *store.DB, name string, age time.Duration) {
	t.Helper()
	now := store.UnixNowSQL(db.Dialect)
	_, err := db.ExecContext(context.Background(), db.Rebind(
		"INSERT INTO schedule_runs (name, tick, started_at, finished_at, outcome, host) VALUES (?, "+now+" - ?, "+now+" - ?, "+now+" - ?, 'dispatched', 'web-1')"),
		name, int64(age/time.Second), int64(age/time.Second), int64(age/time.Second))
	require.NoError(t, err)
}

func TestScheduler(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		requireProblem(t, run(t, checkScheduler, Params{DB: db}), "no scheduler process", "no scheduled task has ever run")
		heartbeat(t, db, driver.ProcessScheduler, 5*time.Minute)
		scheduleRun(t, db, "expire-unpaid-bookings", time.Hour)
		requireProblem(t, run(t, checkScheduler, Params{DB: db}), "all 1 scheduler process(es) are stale", "no scheduled task ran in the last 10m0s", "(the latest 1h0m")

		// `schedule run` from cron keeps no heartbeat; its runs show it.
		scheduleRun(t, db, "expire-unpaid-bookings", 2*time.Minute)
		r := run(t, checkScheduler, Params{DB: db})
		requireOK(t, r)
		require.Contains(t, r.Detail, "schedule run from cron")

		heartbeat(t, db, driver.ProcessScheduler, 0)
		r = run(t, checkScheduler, Params{DB: db})
		requireOK(t, r)
		require.Contains(t, r.Detail, "1 scheduler process(es) alive")
	})
}

func TestRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		requireProblem(t, run(t, checkRetention, Params{DB: db}), "prune-old-records task has never run")
		scheduleRun(t, db, retentionTask, 3*time.Hour)
		scheduleRun(t, db, "expire-unpaid-bookings", time.Minute) // another task
		requireProblem(t, run(t, checkRetention, Params{DB: db}), "last ran 3h0m", "(more than 2h0m0s)")
		scheduleRun(t, db, retentionTask, 30*time.Minute)
		requireOK(t, run(t, checkRetention, Params{DB: db}))
		_, err := db.ExecContext(context.Background(), db.Rebind(
			"UPDATE schedule_runs SET outcome = 'failed', error = ? WHERE id = (SELECT id FROM (SELECT MAX(id) AS id FROM schedule_runs WHERE name = ?) latest)"),
			"database is locked", retentionTask)
		require.NoError(t, err)
		requireProblem(t, run(t, checkRetention, Params{DB: db}), "the last prune-old-records run, 30m", "failed: database is locked")
	})
}

func TestDisk(t *testing.T) {
	for _, d := range []store.Dialect{store.MySQL, store.PgSQL} {
		// Only the dialect is read: a server's disk is its own.
		server := &store.DB{DB: &sqldb.DB{Dialect: d}}
		require.Equal(t, StatusSkipped, run(t, checkDisk, Params{DB: server}).Status)
	}
	t.Run("sqlite", func(t *testing.T) {
		db := storetest.Open(t, store.SQLite)
		// Writes leave frames in the WAL until the checkpointer resets it.
		for i := range 50 {
			_, err := db.ExecContext(context.Background(), "INSERT INTO cache (key, value, expiration) VALUES (?, ?, 0)",
				fmt.Sprintf("k%d", i), strings.Repeat("x", 4096))
			require.NoError(t, err)
		}
		st, err := os.Stat(db.Name + "-wal")
		require.NoError(t, err)
		require.Positive(t, st.Size())

		requireOK(t, run(t, checkDisk, Params{DB: db, MaxWALBytes: 1 << 40, MinFreeBytes: 1}))
		requireProblem(t, run(t, checkDisk, Params{DB: db, MaxWALBytes: 1 << 40, MinFreeBytes: 1 << 60}), "free (less than 1024.0 PiB)", "a full disk stops every write")
		requireProblem(t, run(t, checkDisk, Params{DB: db, MaxWALBytes: 1, MinFreeBytes: 1}), "the WAL file", "checkpoints are not keeping up")
	})
}

func TestFormatBytes(t *testing.T) {
	require.Equal(t, "512 B", FormatBytes(512))
	require.Equal(t, "16.0 MiB", FormatBytes(16<<20))
	require.Equal(t, "1.5 GiB", FormatBytes(3<<29))
}

func TestRunAndOutput(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	heartbeat(t, db, driver.ProcessWorker, 0)
	heartbeat(t, db, driver.ProcessScheduler, 0)
	results := Run(context.Background(), Params{Config: cfg(t, nil), DB: db, RetentionTask: retentionTask, MinFreeBytes: 1})
	require.Len(t, results, len(Checks))
	// A fresh database has never pruned: the one problem.
	require.Equal(t, 1, Problems(results))

	var text bytes.Buffer
	require.NoError(t, WriteText(&text, results, false))
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	require.Len(t, lines, len(Checks))
	require.Contains(t, text.String(), "OK       database: sqlite ")
	require.Contains(t, text.String(), "SKIPPED  smtp: MAIL_MAILER=log")
	require.Contains(t, text.String(), "PROBLEM  retention: the prune-old-records task has never run")

	text.Reset()
	require.NoError(t, WriteText(&text, results, true))
	require.Equal(t, 1, strings.Count(text.String(), "\n"))
	require.True(t, strings.HasPrefix(text.String(), "PROBLEM  retention:"))

	var js bytes.Buffer
	require.NoError(t, WriteJSON(&js, results))
	var out struct {
		Problems int      `json:"problems"`
		Checks   []Result `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &out))
	require.Equal(t, 1, out.Problems)
	require.Equal(t, "config", out.Checks[0].Check)
}
