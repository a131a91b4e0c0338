package faultbench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFaultMatrix runs the fault matrix on every backend this run can
// reach (SQLite always; MariaDB/MySQL, PostgreSQL and Redis when their
// TRIPIN_TEST_* variables are set) and asserts what the queue promises:
// no job lost, none failed because of the fault, none run twice except
// those the fault left running when their lease passed (at-least-once),
// and work resumed after the fault. The short version (CI) restarts no
// server; TRIPIN_LONG_TESTS=1 runs the long one, server restarts
// included. The full-disk row runs whenever `mount -t tmpfs` is allowed.
func TestFaultMatrix(t *testing.T) {
	bin := buildTripin(t)
	long := os.Getenv("TRIPIN_LONG_TESTS") == "1"
	backends := []struct {
		name string
		opts Options
		env  string
	}{
		{name: "sqlite"},
		{name: "mysql", env: "TRIPIN_TEST_MYSQL_DSN"},
		{name: "pgsql", env: "TRIPIN_TEST_PGSQL_DSN"},
		{name: "redis", env: "TRIPIN_TEST_REDIS_URL"},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			// Not t.TempDir: the PostgreSQL a long run starts runs as
			// the postgres user, who must reach its data directory.
			dir, err := os.MkdirTemp("", "tripin-faultmatrix-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			o := Options{Backend: b.name, Bin: bin, Long: long, Dir: dir}
			if b.env != "" {
				v := os.Getenv(b.env)
				if v == "" {
					t.Skipf("%s not set", b.env)
				}
				switch b.name {
				case "mysql":
					o.MySQLDSN = v
				case "pgsql":
					o.PgSQLDSN = v
				case "redis":
					o.RedisURL = v
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			start := time.Now()
			m, err := Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			PrintMatrix(&sb, m)
			t.Logf("in %s:\n%s", time.Since(start).Round(time.Second), sb.String())
			for _, r := range m.Rows {
				t.Run(r.Row, func(t *testing.T) { checkRow(t, b.name, long, r) })
			}
		})
	}
}

func checkRow(t *testing.T, backend string, long bool, r Result) {
	switch r.Status {
	case "n/a":
		switch {
		case r.Row == RowConnKill && backend == "sqlite",
			r.Row == RowIdleTx && backend == "redis",
			r.Row == RowRestart && backend == "sqlite",
			r.Row == RowFullDisk && backend != "sqlite":
			t.Skipf("n/a: %s", r.Note)
		}
		t.Fatalf("row reported n/a on %s: %s", backend, r.Note)
	case "skipped":
		switch {
		case r.Row == RowRestart && !long:
			t.Skip("servers are restarted in the long version only")
		case r.Row == RowFullDisk && strings.Contains(r.Note, "mount"):
			t.Skipf("mount refused: %s", r.Note)
		}
		t.Fatalf("row skipped: %s", r.Note)
	case "ok":
	default:
		t.Fatalf("row %s: %s", r.Status, r.Note)
	}
	if r.Jobs == 0 {
		t.Errorf("no jobs ran")
	}
	if r.Lost != 0 {
		t.Errorf("%d jobs lost (%s)", r.Lost, r.Note)
	}
	if r.Failed != 0 {
		t.Errorf("%d jobs failed because of the fault (%s)", r.Failed, r.Note)
	}
	if r.TwiceUnexplained != 0 {
		t.Errorf("%d jobs ran twice that the fault cannot explain (of %d run twice)", r.TwiceUnexplained, r.Twice)
	}
	switch r.Row {
	case RowSIGKILL, RowSIGSTOP:
		if r.Held == 0 {
			t.Errorf("the faulted worker held no job: the fault hit no work in progress")
		}
	case RowSustained:
		if r.InvoicesMissing != 0 {
			t.Errorf("%d bookings have no invoice sent, queued or failed", r.InvoicesMissing)
		}
		if r.Twice != 0 {
			t.Errorf("%d jobs ran twice under load alone", r.Twice)
		}
		if r.Bookings == 0 {
			t.Errorf("no booking was created: %s", r.RefusedAnswer)
		}
		// Load alone refuses nothing: the tours have seats for the whole
		// run and the bench turns the fair-use limits off.
		if r.Refused != 0 {
			t.Errorf("%d bookings refused under load alone, the first: %s", r.Refused, r.RefusedAnswer)
		}
	case RowFullDisk:
		if r.InvoicesMissing != 0 {
			t.Errorf("%d bookings have no invoice sent, queued or failed", r.InvoicesMissing)
		}
		if !strings.HasPrefix(r.RefusedAnswer, "503 ") || !strings.Contains(r.RefusedAnswer, "database disk is full") {
			t.Errorf("a booking on a full disk was answered %q, want 503 \"database disk is full\"", r.RefusedAnswer)
		}
		if !strings.Contains(r.Note, "consistent while full and after") {
			t.Errorf("state after the full disk: %s", r.Note)
		}
	}
	if !r.Recovered {
		t.Errorf("work did not resume after the fault (%s)", r.Note)
	}
	if r.Row != RowSustained && r.RecoveryMs < 0 {
		t.Errorf("no recovery time measured")
	}
	if r.DiskHighBytes <= 0 {
		t.Errorf("no disk measure (%s)", r.Disk)
	}
}

// buildTripin builds cmd/tripin into the test's temporary directory.
func buildTripin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tripin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tripintravel/tripin/cmd/tripin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/tripin: %v\n%s", err, out)
	}
	return bin
}
