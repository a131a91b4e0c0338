package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// envFileCLI runs commands with the configuration of a .env file, as an
// operator's shell does.
func envFileCLI(t *testing.T, lines ...string) func(args ...string) (string, string, int) {
	t.Helper()
	dir := t.TempDir()
	// The caller's lines come later, and win.
	lines = append([]string{"DB_DATABASE=" + filepath.Join(dir, "tripin.db"), "LOG_FILE=" + filepath.Join(dir, "tripin.log")}, lines...)
	envFile := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(envFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errOut, EnvFile: envFile}
		err := Run(context.Background(), env, args)
		env.closeAll()
		code := exitCode(&errOut, err)
		return out.String(), errOut.String(), code
	}
}

// TestDoctorWithoutPaymentSettings runs doctor on a production
// configuration without Midtrans keys or APP_KEY: it reports them and
// checks everything else.
func TestDoctorWithoutPaymentSettings(t *testing.T) {
	dir := t.TempDir()
	run := envFileCLI(t, "APP_ENV=production", "DB_CONNECTION=sqlite", "DB_DATABASE="+filepath.Join(dir, "tripin.db"))
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: store.SQLite, DSN: filepath.Join(dir, "tripin.db")})
	require.NoError(t, err)
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	db.Close()

	out, errOut, code := run("doctor")
	require.Equal(t, 1, code, out+errOut)
	require.Empty(t, errOut)
	require.Contains(t, out, "PROBLEM  config: MIDTRANS_SERVER_KEY: is required when APP_ENV=production\n")
	require.Contains(t, out, "PROBLEM  config: APP_KEY: is required when APP_ENV=production")
	require.Contains(t, out, "OK       database: sqlite ")
	require.Contains(t, out, "OK       migrations: the schema is current\n")
	require.Contains(t, out, "PROBLEM  workers: no worker process has registered a heartbeat")

	out, _, code = run("doctor", "--json")
	require.Equal(t, 1, code)
	var res struct {
		Problems int `json:"problems"`
		Checks   []struct {
			Check  string `json:"check"`
			Status string `json:"status"`
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, 5, res.Problems) // two settings, workers, scheduler, retention
	require.Equal(t, "ok", res.Checks[1].Status)

	// about and db backup run on it too.
	out, errOut, code = run("about")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "MIDTRANS_SERVER_KEY: is required")
	backup := filepath.Join(t.TempDir(), "b.db")
	out, errOut, code = run("db", "backup", backup)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "Backed up ")
}

// TestDoctorHealthy exits 0 on a deployment with live processes and a
// recent prune, and prints nothing with --quiet.
func TestDoctorHealthy(t *testing.T) {
	ctx := context.Background()
	run := envFileCLI(t, "APP_ENV=testing", "DB_CONNECTION=sqlite")
	out, errOut, code := run("migrate")
	require.Equal(t, 0, code, out+errOut)
	cfgOut, _, _ := run("about", "--json")
	var rep struct {
		Database struct{ Database string } `json:"database"`
	}
	require.NoError(t, json.Unmarshal([]byte(cfgOut), &rep))
	db, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: rep.Database.Database})
	require.NoError(t, err)
	defer db.Close()
	reg := dbdriver.NewRegistry(db.DB)
	for _, kind := range []string{driver.ProcessWorker, driver.ProcessScheduler} {
		require.NoError(t, reg.ProcessHeartbeat(ctx, &driver.Process{ID: "web-1:" + kind, Kind: kind, Host: "web-1", PID: 1, StartedAt: time.Now()}))
	}
	now := store.UnixNowSQL(store.SQLite)
	_, err = db.ExecContext(ctx, "INSERT INTO schedule_runs (name, tick, started_at, outcome, host) VALUES (?, "+now+", "+now+", 'dispatched', 'web-1')", pruneOldRecordsEvent)
	require.NoError(t, err)

	out, errOut, code = run("doctor")
	require.Equal(t, 0, code, out+errOut)
	require.NotContains(t, out, "PROBLEM")
	require.Contains(t, out, "OK       retention: the prune-old-records task ran")
	out, _, code = run("doctor", "--quiet")
	require.Equal(t, 0, code)
	require.Empty(t, out)

	// A database file that is not there is a problem, and stays absent.
	missing := filepath.Join(t.TempDir(), "nowhere.db")
	out, _, code = envFileCLI(t, "APP_ENV=testing", "DB_DATABASE="+missing)("doctor")
	require.Equal(t, 1, code)
	require.Contains(t, out, "PROBLEM  database: cannot connect: the SQLite database "+missing+" does not exist")
	require.NoFileExists(t, missing)

	_, errOut, code = run("doctor", "extra")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `doctor: unexpected argument "extra"`)
}

// TestAboutMasksSecrets prints the report, as text and JSON, of a
// configuration full of secrets, and finds none of them.
func TestAboutMasksSecrets(t *testing.T) {
	secrets := map[string]string{
		"DB_PASSWORD": "db-pass-Zq81", "MAIL_PASSWORD": "mail-pass-Kx27", "MIDTRANS_SERVER_KEY": "SB-Mid-server-secretQ93",
		"APP_KEY": "base64:" + strings.Repeat("Qk", 22), "NOTIFY_SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T0/B0/slacksecret77",
		"REDIS_URL": "redis://:redis-pass-Vb62@127.0.0.1:1/0",
	}
	lines := []string{"APP_ENV=staging", "DB_CONNECTION=sqlite", "QUEUE_CONNECTION=redis", "MAIL_MAILER=smtp", "MAIL_HOST=127.0.0.1", "MAIL_PORT=1", "MAIL_USERNAME=mailer"}
	for k, v := range secrets {
		lines = append(lines, k+"="+v)
	}
	run := envFileCLI(t, lines...)
	for _, args := range [][]string{{"about"}, {"about", "--json"}, {"doctor"}, {"doctor", "--json"}} {
		out, errOut, code := run(args...)
		if args[0] == "about" {
			require.Equal(t, 0, code, errOut)
		}
		for k, v := range secrets {
			require.NotContains(t, out+errOut, v, "%v shows %s", args, k)
		}
	}
	out, _, _ := run("about")
	require.Regexp(t, `(?m)^  MIDTRANS_SERVER_KEY \.+ set$`, out)
	require.Regexp(t, `(?m)^  Mode \.+ sandbox$`, out)
}

func TestDBBackupCommand(t *testing.T) {
	run := envFileCLI(t, "APP_ENV=testing", "DB_CONNECTION=sqlite")
	_, errOut, code := run("migrate")
	require.Equal(t, 0, code, errOut)
	path := filepath.Join(t.TempDir(), "tripin-backup.db")

	out, errOut, code := run("db", "backup", path, "--json")
	require.Equal(t, 0, code, errOut)
	var res struct {
		Integrity string `json:"integrity"`
		Tables    []struct{ Name string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, "ok", res.Integrity)
	require.NotEmpty(t, res.Tables)

	_, errOut, code = run("db", "backup", path)
	require.Equal(t, 1, code)
	requireBackupLine(t, errOut, "exists; pass --force to replace it")
	out, errOut, code = run("db:backup", "--force", path)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "integrity ok")

	_, errOut, code = run("db", "backup")
	require.Equal(t, 2, code)
	requireBackupLine(t, errOut, "name one destination FILE")

	mysql := envFileCLI(t, "DB_CONNECTION=mysql", "DB_PORT=1")
	_, errOut, code = mysql("db", "backup", path, "--force")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "tripin: ")
}

// requireBackupLine checks that db backup failed with one line.
func requireBackupLine(t *testing.T, stderr, want string) {
	t.Helper()
	require.True(t, strings.HasSuffix(stderr, "\n") && strings.Count(stderr, "\n") == 1, "not one line: %q", stderr)
	require.True(t, strings.HasPrefix(stderr, "tripin: db backup: "), stderr)
	require.Contains(t, stderr, want)
}
