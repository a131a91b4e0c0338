package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/dbcopy"
	"github.com/tripintravel/tripin/internal/store"
)

// The progress of long commands goes to stderr, which in these tests is a
// buffer, not a terminal: one line per item as it ends, no redraws, no
// colour, and nothing at all with --json.

// meterLine is one line of the progress meter off a terminal: the item,
// then its rows (or "done", for an item without a count) and its time.
var meterLine = regexp.MustCompile(`^(.+?)  (?:([\d,]+) rows in|done in) (?:\d+\.\d\d s|\d+m\d\ds)(?: \([\d,]+ rows/s\))?$`)

// progressItem is what one meter line says.
type progressItem struct {
	item string
	rows int64 // -1 for an item without a count
}

// meterLines parses stderr, every line of which must be a meter line.
func meterLines(t *testing.T, stderr string) []progressItem {
	t.Helper()
	require.NotContains(t, stderr, "\x1b", "no colour and no redraw off a terminal")
	require.NotContains(t, stderr, "\r")
	var out []progressItem
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		m := meterLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not a progress line: %q", line)
		it := progressItem{item: m[1], rows: -1}
		if m[2] != "" {
			n, err := strconv.ParseInt(strings.ReplaceAll(m[2], ",", ""), 10, 64)
			require.NoError(t, err)
			it.rows = n
		}
		out = append(out, it)
	}
	return out
}

func TestMigrateReportsEachMigration(t *testing.T) {
	c := newDBCopyCLI(t, store.SQLite, filepath.Join(t.TempDir(), "tripin.db"))
	out, errOut, code := c.run("migrate")
	require.Equal(t, 0, code, errOut)
	var want []progressItem
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, ok := strings.CutPrefix(line, "Migrated: ")
		require.True(t, ok, line)
		want = append(want, progressItem{item: name, rows: -1})
	}
	all, err := store.AllMigrations(store.SQLite)
	require.NoError(t, err)
	require.Len(t, want, len(all))
	require.Equal(t, want, meterLines(t, errOut), "one line per migration, in order, on stderr")

	out, errOut, code = c.run("migrate")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "Nothing to migrate.\n", out)
	require.Empty(t, errOut)
}

func TestDBCopyReportsEachTable(t *testing.T) {
	src, srcPath := seededSQLiteSource(t, false)
	dst := filepath.Join(t.TempDir(), "target.db")

	out, errOut, code := src.run("db", "copy", "--from", srcPath, "--to", dst, "--batch", "1")
	require.Equal(t, 0, code, errOut)
	// The stdout report is what it was; stderr has, per table in the
	// same order, the rows it copied.
	require.Contains(t, out, "every table verified")
	var res dbcopy.Result
	jsonOut, jsonErr, code := src.run("db", "copy", "--from", srcPath, "--to", dst, "--verify-only", "--json")
	require.Equal(t, 0, code, jsonErr)
	require.NoError(t, json.Unmarshal([]byte(jsonOut), &res))
	var want []progressItem
	for _, ct := range res.Tables {
		want = append(want, progressItem{item: ct.Table, rows: ct.SourceRows})
	}
	require.Equal(t, want, meterLines(t, errOut))
	require.Contains(t, errOut, "\nfailed_jobs  2 rows in ")
	require.Contains(t, errOut, "\njobs  3 rows in ")

	// JSON, a dry run and a verification print no progress.
	for _, args := range [][]string{{"--force", "--json"}, {"--dry-run", "--force"}, {"--verify-only"}} {
		_, errOut, code = src.run(append([]string{"db", "copy", "--from", srcPath, "--to", dst}, args...)...)
		require.Equal(t, 0, code, errOut)
		require.Empty(t, errOut, args)
	}
}

func TestQueueFlushAndPruneReportTheirRows(t *testing.T) {
	o := newOpsCLI(t, store.SQLite, nil)
	c := &dbCopyCLI{t: t, cfg: o.cfg}

	for range 3 {
		o.failedJob("emails", "Old", 30*24*time.Hour)
	}
	o.failedJob("emails", "Recent", time.Hour)
	out, errOut, code := c.run("queue", "prune-failed")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "3 entries deleted.\n", out)
	require.Equal(t, []progressItem{{"failed_jobs", 3}}, meterLines(t, errOut))

	out, errOut, code = c.run("queue", "flush")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "All failed jobs deleted successfully (1).\n", out)
	require.Equal(t, []progressItem{{"failed_jobs", 1}}, meterLines(t, errOut))

	_, errOut, code = c.run("queue", "flush", "--hours", "1")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, []progressItem{{"failed_jobs", 0}}, meterLines(t, errOut))
}

func TestDBPruneReportsEachTable(t *testing.T) {
	o := newOpsCLI(t, store.SQLite, nil)
	c := &dbCopyCLI{t: t, cfg: o.cfg}
	seedPruneRows(t, o.db)

	out, errOut, code := c.run("db", "prune")
	require.Equal(t, 0, code, errOut)
	lines := meterLines(t, errOut)
	require.NotEmpty(t, lines)
	rows := map[string]int64{}
	for _, l := range lines {
		rows[l.item] = l.rows
		// The stdout report lists the same tables with the same rows.
		require.Regexp(t, `(?m)^  `+regexp.QuoteMeta(l.item)+` +`+strconv.FormatInt(l.rows, 10)+` rows `, out)
	}
	require.EqualValues(t, 1, rows["failed_jobs"])
	require.EqualValues(t, 1, rows["payment_notifications (rejected)"])
	require.Len(t, rows, len(lines), "one line per table")

	out, errOut, code = c.run("db", "prune", "--json")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.True(t, json.Valid([]byte(out)), out)
}
