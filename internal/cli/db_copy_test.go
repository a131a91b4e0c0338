package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dbcopy"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// dbCopyCLI runs tripin commands against one database.
type dbCopyCLI struct {
	t   *testing.T
	cfg *config.Config
}

func newDBCopyCLI(t *testing.T, d store.Dialect, dsn string) *dbCopyCLI {
	t.Helper()
	cfg, err := config.FromMap(map[string]string{
		"APP_ENV": "testing", "DB_CONNECTION": string(d), "DB_URL": dsn, "DB_DATABASE": dsn,
		"LOG_FILE": filepath.Join(t.TempDir(), "tripin.log"),
	})
	require.NoError(t, err)
	return &dbCopyCLI{t: t, cfg: cfg}
}

// run runs one command and returns its stdout, and its stderr as Main
// would print it with the exit code.
func (c *dbCopyCLI) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Cfg: c.cfg}
	err := Run(context.Background(), env, args)
	env.closeAll()
	code = exitCode(&errOut, err)
	return out.String(), errOut.String(), code
}

func (c *dbCopyCLI) mustRun(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	require.Equal(c.t, 0, code, "tripin %s: %s%s", strings.Join(args, " "), out, errOut)
	return out
}

// requireOneLine checks that a failure printed exactly one line, as every
// tripin error does.
func requireOneLine(t *testing.T, stderr, want string) {
	t.Helper()
	require.True(t, strings.HasSuffix(stderr, "\n") && strings.Count(stderr, "\n") == 1, "not one line: %q", stderr)
	require.Contains(t, stderr, want)
	require.True(t, strings.HasPrefix(stderr, "tripin: db copy: "), stderr)
}

// seededSQLiteSource makes the SQLite database a real installation would
// have: two failed jobs, three delayed ones and, with demo, the demo
// accounts and tours (slow under -race: the passwords are bcrypt hashes).
func seededSQLiteSource(t *testing.T, demo bool) (*dbCopyCLI, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "source.db")
	src := newDBCopyCLI(t, store.SQLite, path)
	if demo {
		// A local installation: only there are demo accounts seeded.
		src.cfg.AppEnv = "local"
		src.mustRun("migrate", "--seed")
	} else {
		src.mustRun("migrate")
	}
	src.mustRun("queue", "push", "fail", "--count", "2")
	src.mustRun("queue", "work", "--queue", "default", "--stop-when-empty")
	src.mustRun("queue", "push", "noop", "--count", "3", "--delay", "1h")
	return src, path
}

func TestDBCopySQLiteToEachBackend(t *testing.T) {
	// One source serves every target: copying never changes it.
	src, srcPath := seededSQLiteSource(t, true)
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		dstDSN := storetest.NewDSN(t, d)
		dst := newDBCopyCLI(t, d, dstDSN)

		var res dbcopy.Result
		out := src.mustRun("db", "copy", "--from", srcPath, "--to", dstDSN, "--json")
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		require.True(t, res.Verified)
		require.Equal(t, d, res.To.Dialect)
		rows := map[string]int64{}
		for _, ct := range res.Tables {
			require.True(t, ct.Verified, ct.Table)
			require.Len(t, ct.SourceChecksum, 64)
			require.Equal(t, ct.SourceChecksum, ct.TargetChecksum)
			rows[ct.Table] = ct.TargetRows
		}
		require.EqualValues(t, 2, rows["users"])
		require.EqualValues(t, 10, rows["tours"])
		require.EqualValues(t, 2, rows["failed_jobs"])
		require.EqualValues(t, 3, rows["jobs"])

		// The app, pointed at the target, lists the same failed jobs and
		// queue sizes as at the source.
		require.JSONEq(t, src.mustRun("queue", "failed", "--json"), dst.mustRun("queue", "failed", "--json"))
		require.Equal(t, "Nothing to migrate.\n", dst.mustRun("migrate"))

		_, errOut, code := src.run("db", "copy", "--from", srcPath, "--to", dstDSN)
		require.Equal(t, 1, code)
		requireOneLine(t, errOut, "the target database already holds rows (")
		require.Contains(t, errOut, "pass --force")

		out = src.mustRun("db", "copy", "--from", srcPath, "--to", dstDSN, "--force")
		require.Contains(t, out, "TABLE")
		require.Contains(t, out, "VERIFIED")
		require.Regexp(t, `(?m)^bookings\s+0\s+yes$`, out)
		require.Regexp(t, `(?m)^failed_jobs\s+2\s+yes$`, out)
		require.Contains(t, out, "every table verified")

		// A change made in the target afterwards fails verification.
		db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: dstDSN})
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Exec("UPDATE tours SET title = 'Changed' WHERE id = 1")
		require.NoError(t, err)
		out, errOut, code = src.run("db", "copy", "--from", srcPath, "--to", dstDSN, "--verify-only")
		require.Equal(t, 1, code, out)
		require.Regexp(t, `(?m)^tours\s+10\s+NO: checksums differ$`, out)
		require.Regexp(t, `(?m)^users\s+2\s+yes$`, out)
		requireOneLine(t, errOut, "verification failed for tours")
	})
}

func TestDBCopyFromTheConfiguredDatabase(t *testing.T) {
	src, _ := seededSQLiteSource(t, false)
	target := filepath.Join(t.TempDir(), "target.db")
	out := src.mustRun("db:copy", "--to", "sqlite:"+target)
	require.Contains(t, out, "every table verified")
	require.Contains(t, out, "to sqlite ("+target+")")
}

func TestDBCopyDryRun(t *testing.T) {
	src, srcPath := seededSQLiteSource(t, false)
	target := filepath.Join(t.TempDir(), "new.db")
	out := src.mustRun("db", "copy", "--from", srcPath, "--to", target, "--dry-run")
	require.Contains(t, out, "nothing was written")
	require.Regexp(t, `(?m)^jobs\s+3\s+0$`, out)
	require.Regexp(t, `(?m)^failed_jobs\s+2\s+0$`, out)
	// The queue's migrations come first, then the application's.
	require.Contains(t, out, "The target would be migrated first: queue_0001_jobs, ")
	require.Contains(t, out, "queue_0008_job_tags, queue_0009_error_log, 0001_core, ")
	_, err := os.Stat(target)
	require.ErrorIs(t, err, os.ErrNotExist, "a dry run leaves no database file behind")
}

func TestDBCopyRefusals(t *testing.T) {
	src, srcPath := seededSQLiteSource(t, false)
	dir := t.TempDir()

	_, errOut, code := src.run("db", "copy", "--from", srcPath)
	require.Equal(t, 2, code)
	requireOneLine(t, errOut, "--to is required")

	_, errOut, code = src.run("db", "copy", "--from", srcPath, "--to", "redis://127.0.0.1:6379/0")
	require.Equal(t, 2, code)
	requireOneLine(t, errOut, `--to: unknown scheme "redis"`)

	_, errOut, code = src.run("db", "copy", "--from", filepath.Join(dir, "typo.db"), "--to", filepath.Join(dir, "t.db"))
	require.Equal(t, 1, code)
	requireOneLine(t, errOut, "--from: no SQLite database at "+filepath.Join(dir, "typo.db"))
	_, err := os.Stat(filepath.Join(dir, "typo.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "a mistyped source is not created")

	_, errOut, code = src.run("db", "copy", "--from", srcPath, "--to", "tripin:s3cret@tcp(127.0.0.1:1)/tripin")
	require.Equal(t, 1, code)
	requireOneLine(t, errOut, "--to: ")
	require.NotContains(t, errOut, "s3cret")

	// A source that is behind on migrations is refused, and the target
	// is left untouched.
	behind := filepath.Join(dir, "behind.db")
	old := newDBCopyCLI(t, store.SQLite, behind)
	old.mustRun("migrate")
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: store.SQLite, DSN: behind})
	require.NoError(t, err)
	_, err = db.Exec("DELETE FROM migrations WHERE migration = (SELECT MAX(migration) FROM migrations)")
	require.NoError(t, err)
	db.Close()
	target := filepath.Join(dir, "target.db")
	_, errOut, code = src.run("db", "copy", "--from", behind, "--to", target)
	require.Equal(t, 1, code)
	requireOneLine(t, errOut, "the source database is behind: 1 migration(s) pending (")
	require.Contains(t, errOut, "run 'tripin migrate' against it first")
	tdb, err := store.Open(context.Background(), store.OpenParams{Dialect: store.SQLite, DSN: target})
	require.NoError(t, err)
	defer tdb.Close()
	applied, err := tdb.Pending(context.Background())
	require.NoError(t, err)
	ms, err := tdb.Migrations(context.Background())
	require.NoError(t, err)
	require.Len(t, applied, len(ms), "the target was not migrated")

	_, errOut, code = src.run("db", "copy", "--from", srcPath, "--to", srcPath, "--force")
	require.Equal(t, 1, code)
	requireOneLine(t, errOut, "the same database")
}
