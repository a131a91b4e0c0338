package tripinpgsql

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestClaimPlan checks, on a table with a backlog and running jobs, that
// the claim's generic plan (the one a prepared statement ends up with)
// reads both halves through their partial indexes and finds the rows to
// update by primary key: no sequential scan, no walk of the primary key.
func TestClaimPlan(t *testing.T) {
	if !slices.Contains(sqldbtest.Dialects(), sqldb.PgSQL) {
		t.Skipf("%s not set", sqldbtest.PgSQLEnv)
	}
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldb.PgSQL, Migrations())
	d := New(db, Options{})
	for _, q := range []string{"big", "big", "big", "big", "small"} {
		params := make([]*driver.JobInsertParams, 5000)
		for i := range params {
			params[i] = &driver.JobInsertParams{Queue: q, Kind: "noop", Payload: []byte(`{}`)}
		}
		if _, err := d.JobInsertMany(ctx, params); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"big"}, Max: 2000, WorkerID: "w"}); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{"ANALYZE jobs", "SET plan_cache_mode = force_generic_plan", "PREPARE claim AS " + claimSQL} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	rows, err := conn.QueryContext(ctx, "EXPLAIN EXECUTE claim('{small,big}', NULL, 1000, 90, 'w')")
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	rows.Close()
	p := plan.String()
	for _, want := range []string{"Index Scan using jobs_queue_pending", "using jobs_queue_lease", "Index Scan using jobs_pkey on jobs  (", "Index Cond: (id = ANY"} {
		if !strings.Contains(p, want) {
			t.Errorf("plan lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "Seq Scan") || strings.Count(p, "jobs_pkey") != 1 {
		t.Errorf("plan scans the table or walks the primary key:\n%s", p)
	}
}
