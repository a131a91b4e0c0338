package tripinmysql_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

func open(t testing.TB) *sqldb.DB {
	t.Helper()
	if !slices.Contains(sqldbtest.Dialects(), sqldb.MySQL) {
		t.Skipf("%s not set", sqldbtest.MySQLEnv)
	}
	return queuetest.OpenDB(t, sqldb.MySQL)
}

func newDriver(t testing.TB, db *sqldb.DB) *tripinmysql.Driver {
	t.Helper()
	d, err := tripinmysql.New(context.Background(), db, tripinmysql.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	open(t) // skips without a server
	drivertest.Exercise(t, func(t *testing.T) (driver.Driver, *sqldb.DB) {
		db := open(t)
		return newDriver(t, db), db
	})
}

// TestConformanceMySQLStatements runs the suite with the statements the
// driver uses on MySQL, which has no INSERT or DELETE … RETURNING, so that
// they are exercised on a MariaDB test server too.
func TestConformanceMySQLStatements(t *testing.T) {
	open(t) // skips without a server
	drivertest.Exercise(t, func(t *testing.T) (driver.Driver, *sqldb.DB) {
		db := open(t)
		d, err := tripinmysql.NewAsMySQL(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		return d, db
	})
}

func TestCheckVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		mariadb bool
		ok      bool
	}{
		{"10.11.19-MariaDB-0+deb12u1", true, true},
		{"10.6.0-MariaDB", true, true},
		{"10.5.23-MariaDB-log", true, false},
		{"11.4.2-MariaDB-ubu2404", true, true},
		{"8.0.36", false, true},
		{"8.0.0-dmr", false, false},
		{"5.7.44-log", false, false},
		{"9.1.0", false, true},
		{"garbage", false, false},
	} {
		mariadb, err := tripinmysql.CheckVersion(tc.version)
		if (err == nil) != tc.ok || (err == nil && mariadb != tc.mariadb) {
			t.Errorf("CheckVersion(%q) = %v, %v; want mariadb %v, ok %v", tc.version, mariadb, err, tc.mariadb, tc.ok)
		}
	}
}

// TestSeedSQL runs the seed document's SQL verbatim against the schema.
func TestSeedSQL(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	d := newDriver(t, db)
	res, err := d.JobInsertMany(ctx, []*driver.JobInsertParams{
		{Queue: "emails", Kind: "SendInvoiceEmail", Payload: []byte(`{"job":"old"}`)},
		{Queue: "emails", Kind: "SendInvoiceEmail", Payload: []byte(`{"job":"new"}`)},
		{Queue: "default", Kind: "ExpireBooking", Payload: []byte(`{}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs;").Scan(&n); err != nil || n != 3 {
		t.Fatalf("SELECT COUNT(*) FROM jobs = %d, %v; want 3", n, err)
	}
	now, err := d.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"emails"}, Max: 2, WorkerID: "w", RetryAfter: time.Minute})
	if err != nil || len(claimed) != 2 || claimed[0].ID != res[0].ID {
		t.Fatalf("claim = %v, %v; want the first two jobs", claimed, err)
	}
	stale, err := d.JobFailMany(ctx, []*driver.JobFailParams{
		{ID: res[0].ID, WorkerID: "w", Claim: 1, Connection: "database", Exception: "old failure", Now: now.Add(-8 * 24 * time.Hour)},
		{ID: res[1].ID, WorkerID: "w", Claim: 1, Connection: "database", Exception: "new failure"},
	})
	if err != nil || len(stale) > 0 {
		t.Fatalf("fail: stale %v, %v", stale, err)
	}
	rows, err := db.QueryContext(ctx, "SELECT * FROM failed_jobs ORDER BY failed_at DESC;")
	if err != nil {
		t.Fatal(err)
	}
	var exceptions []string
	for rows.Next() {
		var (
			id                                    int64
			uuid, conn, queue, payload, exception string
			failedAt                              time.Time
			errorLog                              []byte
		)
		if err := rows.Scan(&id, &uuid, &conn, &queue, &payload, &exception, &failedAt, &errorLog); err != nil {
			t.Fatal(err)
		}
		exceptions = append(exceptions, exception)
	}
	rows.Close()
	if !slices.Equal(exceptions, []string{"new failure", "old failure"}) {
		t.Fatalf("SELECT * FROM failed_jobs ORDER BY failed_at DESC = %q, want newest first", exceptions)
	}
	r, err := db.ExecContext(ctx, "DELETE FROM failed_jobs WHERE failed_at < DATE_SUB(NOW(), INTERVAL 7 DAY);")
	if err != nil {
		t.Fatal(err)
	}
	if deleted, _ := r.RowsAffected(); deleted != 1 {
		t.Fatalf("the prune deleted %d rows, want 1 (the 8-day-old one)", deleted)
	}
	var left string
	if err := db.QueryRowContext(ctx, "SELECT exception FROM failed_jobs").Scan(&left); err != nil || left != "new failure" {
		t.Fatalf("left %q, %v; want the new failure kept", left, err)
	}
}

// BenchmarkDrain: go test -run '^$' -bench Drain ./queue/driver/tripinmysql
func BenchmarkDrain(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			db := open(b)
			drivertest.BenchmarkDrain(b, newDriver(b, db), 50000, batch, 2)
		})
	}
}
