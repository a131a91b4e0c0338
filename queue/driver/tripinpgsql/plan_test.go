package tripinpgsql

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// openMigrated opens a fresh database migrated with the queue's tables on
// the test server and a driver on it, or skips the test without one.
func openMigrated(t *testing.T) (*sqldb.DB, *Driver) {
	t.Helper()
	if !slices.Contains(sqldbtest.Dialects(), sqldb.PgSQL) {
		t.Skipf("%s not set", sqldbtest.PgSQLEnv)
	}
	db := sqldbtest.Open(t, sqldb.PgSQL, Migrations())
	return db, New(db, Options{})
}

// TestClaimPlan checks, on a table with a backlog and running jobs, that
// the claim's generic plan (the one a prepared statement ends up with)
// reads both halves through their partial indexes and finds the rows to
// update by primary key: no sequential scan, no walk of the primary key.
func TestClaimPlan(t *testing.T) {
	ctx := context.Background()
	db, d := openMigrated(t)
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

// TestCompletePlan checks that the generic plan of a completion finds its
// rows by primary key and checks each row's claim on the row itself: no
// join against the list of leases, which a generic plan, not knowing the
// list's length, runs as a nested loop over the whole list for every row.
func TestCompletePlan(t *testing.T) {
	ctx := context.Background()
	db, d := openMigrated(t)
	params := make([]*driver.JobInsertParams, 5000)
	for i := range params {
		params[i] = &driver.JobInsertParams{Queue: "default", Kind: "noop", Payload: []byte(`{}`)}
	}
	if _, err := d.JobInsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	rows, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1500, WorkerID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	leases := make([]driver.JobLease, len(rows))
	for i, r := range rows {
		leases[i] = driver.JobLease{ID: r.ID, Claim: r.ClaimSeq}
	}
	cond, args := dialect.LeaseList(leases)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmt := sqldb.Rebind(sqldb.PgSQL, "DELETE FROM jobs WHERE reserved_by = ? AND "+cond+" RETURNING id")
	for _, s := range []string{"ANALYZE jobs", "SET plan_cache_mode = force_generic_plan", "PREPARE complete AS " + stmt} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	ids := args[0].([]int64)
	idList := make([]string, len(ids))
	for i, id := range ids {
		idList[i] = strconv.FormatInt(id, 10)
	}
	explain := "EXPLAIN EXECUTE complete('w', '{" + strings.Join(idList, ",") + "}', '" + args[1].(string) + "')"
	prows, err := conn.QueryContext(ctx, explain)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for prows.Next() {
		var line string
		if err := prows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	prows.Close()
	p := plan.String()
	if !strings.Contains(p, "Index Cond: (id = ANY") || !strings.Contains(p, "jobs_pkey") {
		t.Errorf("plan does not find the rows by primary key:\n%s", p)
	}
	for _, bad := range []string{"Nested Loop", "Join", "Function Scan", "Seq Scan"} {
		if strings.Contains(p, bad) {
			t.Errorf("plan has %q:\n%s", bad, p)
		}
	}
	// And the condition does what it says: a stale claim is left alone.
	leases[0].Claim++
	stale, err := d.JobCompleteMany(ctx, &driver.JobCompleteParams{WorkerID: "w", Jobs: leases})
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0] != leases[0].ID {
		t.Fatalf("stale = %v, want [%d]", stale, leases[0].ID)
	}
}
