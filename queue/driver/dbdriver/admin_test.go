package dbdriver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// The rows below are written with plain SQL so that the admin methods are
// tested against the schema itself, whichever dialect drivers exist.

func unixNow(t *testing.T, db *sqldb.DB) int64 {
	t.Helper()
	now, err := db.Now(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return now.Unix()
}

func insertJob(t *testing.T, db *sqldb.DB, queue string, availableIn int64, reserved bool) {
	t.Helper()
	now := unixNow(t, db)
	var reservedAt any
	if reserved {
		reservedAt = now
	}
	id := uuid.NewString()
	payload := fmt.Sprintf(`{"uuid":%q,"displayName":"noop","job":"noop","maxTries":null,"data":{}}`, id)
	_, err := db.ExecContext(context.Background(), db.Rebind(`INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at, uuid, kind, max_attempts)
VALUES (?, ?, 0, ?, ?, ?, ?, 'noop', 1)`), queue, payload, reservedAt, now+availableIn, now, id)
	if err != nil {
		t.Fatalf("insert job: %v", err)
	}
}

func insertFailed(t *testing.T, db *sqldb.DB, queue, kind string, failedAt time.Time, batchID string) string {
	t.Helper()
	id := uuid.NewString()
	payload := fmt.Sprintf(`{"uuid":%q,"displayName":%q,"job":%q,"maxTries":3,"data":{"n":1}`, id, kind, kind)
	if batchID != "" {
		payload += fmt.Sprintf(`,"batchId":%q`, batchID)
	}
	payload += "}"
	var at any = failedAt.UTC()
	if db.Dialect == sqldb.SQLite {
		at = failedAt.UTC().Format(time.DateTime)
	}
	_, err := db.ExecContext(context.Background(), db.Rebind(`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
VALUES (?, 'database', ?, ?, 'boom\ncaused by *errors.errorString: boom', ?)`), id, queue, payload, at)
	if err != nil {
		t.Fatalf("insert failed job: %v", err)
	}
	return id
}

func count(t *testing.T, db *sqldb.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), db.Rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func setup(t *testing.T, d sqldb.Dialect) (*sqldb.DB, driver.Admin) {
	db := queuetest.OpenDB(t, d)
	return db, dbdriver.NewAdmin(db)
}

// TestSeedSQLVerbatimOnMariaDB runs the seed document's monitoring SQL,
// character for character, against our schema on MySQL/MariaDB.
func TestSeedSQLVerbatimOnMariaDB(t *testing.T) {
	db := queuetest.OpenDB(t, sqldb.MySQL)
	ctx := context.Background()
	now, err := db.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insertJob(t, db, "emails", 0, false)
	insertJob(t, db, "default", 60, false)
	stale := insertFailed(t, db, "emails", "SendInvoiceEmail", now.Add(-10*24*time.Hour), "")
	fresh := insertFailed(t, db, "emails", "SendETicketEmail", now.Add(-time.Hour), "")

	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs;").Scan(&n); err != nil || n != 2 {
		t.Fatalf("SELECT COUNT(*) FROM jobs; = %d, %v, want 2", n, err)
	}

	rows, err := db.QueryContext(ctx, "SELECT * FROM failed_jobs ORDER BY failed_at DESC;")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	// Laravel's columns, in Laravel's order, then ours (the error log).
	if strings.Join(cols, ",") != "id,uuid,connection,queue,payload,exception,failed_at,error_log" {
		t.Errorf("failed_jobs columns = %v, want Laravel's then error_log", cols)
	}
	var order []string
	for rows.Next() {
		var (
			id                             int64
			u, conn, q, payload, exception string
			failedAt                       time.Time
			errorLog                       []byte
		)
		if err := rows.Scan(&id, &u, &conn, &q, &payload, &exception, &failedAt, &errorLog); err != nil {
			t.Fatal(err)
		}
		order = append(order, u)
	}
	rows.Close()
	if len(order) != 2 || order[0] != fresh || order[1] != stale {
		t.Fatalf("ORDER BY failed_at DESC = %v, want [%s %s]", order, fresh, stale)
	}

	res, err := db.ExecContext(ctx, "DELETE FROM failed_jobs WHERE failed_at < DATE_SUB(NOW(), INTERVAL 7 DAY);")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := res.RowsAffected(); got != 1 {
		t.Fatalf("DELETE … INTERVAL 7 DAY removed %d rows, want 1 (the 10-day-old one)", got)
	}
	if c := count(t, db, "SELECT COUNT(*) FROM failed_jobs WHERE uuid = ?", fresh); c != 1 {
		t.Fatal("the recent failed job was deleted")
	}
}
