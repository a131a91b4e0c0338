package tripinpgsql

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
)

// TestVacuumClearsTheClaimRange: behind a standing backlog, a plain VACUUM
// (what autovacuum runs) removes the index entries of jobs claimed and
// deleted, so that a claim that finds nothing reads a few pages instead of
// every dead entry. Then, as the control, the same after resetting the
// table's vacuum_index_cleanup: the vacuum skips the indexes (the dead
// rows lie on under 2% of the table's pages) and the claim reads the dead
// entries, which is what queue_0010 is for.
func TestVacuumClearsTheClaimRange(t *testing.T) {
	ctx := context.Background()
	db, d := openMigrated(t)
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	var opts string
	if err := db.QueryRowContext(ctx, "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = 'jobs'::regclass").Scan(&opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vacuum_index_cleanup=on", "autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=10000"} {
		if !strings.Contains(opts, want) {
			t.Errorf("jobs has %q, want %s among its options", opts, want)
		}
	}

	// The backlog: 100,000 jobs due in an hour on the queue the claims
	// read, wide enough to fill about 10,000 pages.
	exec(`INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at, uuid, kind, max_attempts)
SELECT 'q', repeat('x', 700), 0, NULL, extract(epoch FROM now())::bigint + 3600, extract(epoch FROM now())::bigint,
  gen_random_uuid(), 'noop', 1 FROM generate_series(1, 100000)`)

	// drain inserts n jobs due now, claims and completes them all.
	drain := func(n int) {
		t.Helper()
		params := make([]*driver.JobInsertParams, n)
		for i := range params {
			params[i] = &driver.JobInsertParams{Queue: "q", Kind: "noop", Payload: []byte(`{}`)}
		}
		if _, err := d.JobInsertMany(ctx, params); err != nil {
			t.Fatal(err)
		}
		for done := 0; done < n; {
			rows, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"q"}, Max: 1000, WorkerID: "w"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				t.Fatalf("claimed %d of %d jobs", done, n)
			}
			if _, err := d.JobCompleteMany(ctx, driver.CompleteParamsOf(rows)); err != nil {
				t.Fatal(err)
			}
			done += len(rows)
		}
	}
	// claimPages vacuums the table as autovacuum would, then runs the
	// claim, which finds nothing due, and returns the pages it read.
	claimPages := func() int {
		t.Helper()
		exec("VACUUM jobs")
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "PREPARE claim AS "+claimSQL); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "DEALLOCATE claim")
		var out string
		if err := conn.QueryRowContext(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE claim('{q}', NULL, 10, 90, 'w')").Scan(&out); err != nil {
			t.Fatal(err)
		}
		var plans []struct {
			Plan struct {
				Rows int `json:"Actual Rows"`
				Hit  int `json:"Shared Hit Blocks"`
				Read int `json:"Shared Read Blocks"`
			}
		}
		if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
			t.Fatalf("plan %s: %v", out, err)
		}
		if plans[0].Plan.Rows != 0 {
			t.Fatalf("the claim took %d jobs; none was due", plans[0].Plan.Rows)
		}
		return plans[0].Plan.Hit + plans[0].Plan.Read
	}

	drain(4000)
	cleaned := claimPages()
	if cleaned > 12 {
		t.Errorf("after VACUUM the empty claim read %d pages, want a handful: the dead entries were left in its range", cleaned)
	}

	// Before PostgreSQL 14 the option's default is on, and a vacuum never
	// skips the indexes: there is no control to run.
	var version int
	if err := db.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		t.Logf("server %d: a vacuum cleans the indexes by default; %d pages after VACUUM", version, cleaned)
		return
	}
	exec("ALTER TABLE jobs RESET (vacuum_index_cleanup)")
	drain(4000)
	left := claimPages()
	if left < 3*cleaned || left < 20 {
		t.Errorf("without vacuum_index_cleanup the empty claim read %d pages against %d with it: the control shows nothing", left, cleaned)
	}
	t.Logf("pages read by a claim that finds nothing, after VACUUM: %d with vacuum_index_cleanup = on, %d without", cleaned, left)
}
