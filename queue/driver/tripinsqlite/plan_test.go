package tripinsqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// TestClaimPlan checks that every half of the claim is an index range
// (pending jobs from jobs_queue_pending up to now, expired leases from
// jobs_queue_lease) and that no step scans the jobs table.
func TestClaimPlan(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite, Migrations())
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+claimSQL(2), nil, "w", 90, 100, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	p := plan.String()
	if n := strings.Count(p, "SEARCH jobs USING INDEX jobs_queue_pending (queue=? AND available_at<?)"); n != 2 {
		t.Errorf("pending jobs not read by range on jobs_queue_pending for each queue:\n%s", p)
	}
	if n := strings.Count(p, "jobs_queue_lease (queue=? AND lease_expires_at<?)"); n != 2 {
		t.Errorf("expired leases not read by range on jobs_queue_lease for each queue:\n%s", p)
	}
	if strings.Contains(p, "SCAN jobs") {
		t.Errorf("the claim scans the jobs table:\n%s", p)
	}
}
