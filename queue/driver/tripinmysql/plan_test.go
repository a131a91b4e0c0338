package tripinmysql

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestClaimPlan checks that both halves of the claim are ranges without a
// filesort, expired leases on jobs_queue_lease and pending jobs on
// jobs_queue_reserved_at_available_at_index, on a table with a backlog in
// two queues and running jobs.
func TestClaimPlan(t *testing.T) {
	if !slices.Contains(sqldbtest.Dialects(), sqldb.MySQL) {
		t.Skipf("%s not set", sqldbtest.MySQLEnv)
	}
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldb.MySQL, Migrations())
	d, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"big", "big", "small"} {
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
	if _, err := db.ExecContext(ctx, "ANALYZE TABLE jobs"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "EXPLAIN "+claimSQL, nil, "small", nil, 100, nil, "small", nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	cols, vals, err := sqldbtest.Strings(rows)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range vals {
		row := map[string]string{}
		for i, c := range cols {
			row[c] = v[i]
		}
		if row["table"] != "jobs" {
			continue
		}
		keys = append(keys, row["key"])
		if row["type"] != "range" && row["type"] != "ref" {
			t.Errorf("claim reads jobs with access %q, want a range: %v", row["type"], row)
		}
		if strings.Contains(row["Extra"], "filesort") {
			t.Errorf("claim sorts: %v", row)
		}
	}
	slices.Sort(keys)
	if want := []string{"jobs_queue_lease", "jobs_queue_reserved_at_available_at_index"}; !slices.Equal(keys, want) {
		t.Fatalf("EXPLAIN read jobs with keys %v, want %v", keys, want)
	}
}
