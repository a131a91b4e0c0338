package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// guidePath is the API guide whose examples TestAPIGuideExamples runs.
const guidePath = "../../docs/API.md"

// guideBase is the line of the guide that sets the server's URL; the test
// points it at its own server.
const guideBase = "B=http://localhost:8080"

// guideExpectation is one "# → STATUS output" line of the guide: the
// status of the curl call above it, and the pieces of its output (the
// text between "…") that must appear in order.
type guideExpectation struct {
	line   int
	status int
	pieces []string
}

// parseGuide returns the guide's sh blocks as one script, with each
// expectation line replaced by a call that snapshots the last curl call
// for the test to check.
func parseGuide(t *testing.T, guidePath string, src []byte) (string, []guideExpectation) {
	t.Helper()
	var (
		script  strings.Builder
		expects []guideExpectation
		inSh    bool
		blocks  int
	)
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !inSh && line == "```sh":
			inSh = true
			blocks++
		case inSh && line == "```":
			inSh = false
		case inSh && strings.HasPrefix(line, "# → "):
			status, rest, _ := strings.Cut(strings.TrimPrefix(line, "# → "), " ")
			code, err := strconv.Atoi(status)
			require.NoError(t, err, "%s:%d: %q does not start with a status", guidePath, n, line)
			var pieces []string
			for _, p := range strings.Split(rest, "…") {
				if p != "" {
					pieces = append(pieces, p)
				}
			}
			expects = append(expects, guideExpectation{line: n, status: code, pieces: pieces})
			fmt.Fprintf(&script, "__snap %d\n", len(expects)-1)
		case inSh:
			script.WriteString(line + "\n")
		}
	}
	require.NoError(t, sc.Err())
	require.False(t, inSh, "%s: an sh block is not closed", guidePath)
	require.Positive(t, blocks, "%s: the guide's sh blocks were not found", guidePath)
	return script.String(), expects
}

// TestAPIGuideExamples runs every sh block of docs/API.md, in order, as
// one bash session with the real curl against the real API (with a fake
// Midtrans and the payment simulator, on a fresh database holding two
// tours), and checks each call's status and output against the guide's
// "# →" lines, so the guide cannot drift from the API.
func TestAPIGuideExamples(t *testing.T) {
	runGuide(t, guidePath, func(a *api) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		for _, tour := range []booking.Tour{
			{Title: "Bromo Sunrise", Destination: "Bromo", Description: "Jeep to Penanjakan.", DepartureDate: a.day(10), Price: 2_350_000, Capacity: 4, Quota: 4},
			{Title: "Komodo Island Hopping", Destination: "Labuan Bajo", DepartureDate: a.day(20), Price: 4_500_000, Capacity: 12, Quota: 12},
		} {
			tour.CreatedAt, tour.UpdatedAt = now, now
			require.NoError(t, a.db.TourCreate(ctx, &tour))
		}
	})
}

// TestREADMEWalkthrough runs the README's curl walk-through against the
// API as local mode seeds it: the demo customer and a first tour.
func TestREADMEWalkthrough(t *testing.T) {
	runGuide(t, "../../README.md", func(a *api) {
		ctx := context.Background()
		_, _, err := a.acc.Register(ctx, booking.NewUser{Name: "Demo Customer", Email: "demo@tripin.test", Password: "password"})
		require.NoError(t, err)
		now := time.Now().UTC().Truncate(time.Microsecond)
		tour := booking.Tour{Title: "Bromo Sunrise", Destination: "Bromo", DepartureDate: a.day(10), Price: 2_350_000, Capacity: 10, Quota: 10, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, a.db.TourCreate(ctx, &tour))
	})
}

// runGuide runs the sh blocks of the document at guidePath as one shell
// session against a real API prepared by setup, and checks each
// expectation line.
func runGuide(t *testing.T, guidePath string, setup func(a *api)) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is not installed; the API guide's examples need it (apt-get install curl)")
		}
		t.Skip("curl is not installed")
	}
	src, err := os.ReadFile(guidePath)
	require.NoError(t, err)
	require.Contains(t, string(src), "\n"+guideBase+"\n")
	script, expects := parseGuide(t, guidePath, src)
	require.NotEmpty(t, expects)
	if guidePath == "../../docs/API.md" {
		require.Greater(t, len(expects), 20, "the API guide's examples were not all found")
	}

	a, _, _ := newPaymentsAPI(t, store.SQLite, nil)
	ctx := context.Background()
	setup(a)

	dir := t.TempDir()
	prelude := `set -euo pipefail
T=` + strconv.Quote(dir) + `
# Each curl call leaves its status and output for __snap; its output still
# goes where the guide sends it.
curl() { command curl -w '%{stderr}%{http_code}\n' "$@" 2>"$T/status" | tee "$T/out"; }
__snap() { cp "$T/status" "$T/status.$1"; cp "$T/out" "$T/out.$1"; : >"$T/status"; : >"$T/out"; echo; }
: >"$T/status"; : >"$T/out"
`
	script = strings.Replace(script, guideBase+"\n", "B="+a.url+"\n", 1)
	cmdCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, "bash", "-c", prelude+script)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the guide's examples failed:\n%s", out)

	for i, e := range expects {
		status, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("status.%d", i)))
		require.NoError(t, err, "%s:%d: not reached", guidePath, e.line)
		lines := strings.Fields(string(status))
		require.NotEmpty(t, lines, "%s:%d: no curl call before this line", guidePath, e.line)
		require.Equal(t, strconv.Itoa(e.status), lines[len(lines)-1], "%s:%d: status", guidePath, e.line)
		body, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out.%d", i)))
		require.NoError(t, err)
		rest := string(body)
		for _, p := range e.pieces {
			j := strings.Index(rest, p)
			require.GreaterOrEqual(t, j, 0, "%s:%d: the output lacks %q (in order) in:\n%s", guidePath, e.line, p, body)
			rest = rest[j+len(p):]
		}
	}
}
