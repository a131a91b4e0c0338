package tripinpgsql_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/drivertest"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

func open(t testing.TB) *sqldb.DB {
	t.Helper()
	if !hasPgSQL() {
		t.Skipf("%s not set", sqldbtest.PgSQLEnv)
	}
	return queuetest.OpenDB(t, sqldb.PgSQL)
}

func hasPgSQL() bool {
	for _, d := range sqldbtest.Dialects() {
		if d == sqldb.PgSQL {
			return true
		}
	}
	return false
}

func TestConformance(t *testing.T) {
	open(t) // skips without a server
	drivertest.Exercise(t, func(t *testing.T) (driver.Driver, *sqldb.DB) {
		db := open(t)
		return tripinpgsql.New(db, tripinpgsql.Options{}), db
	})
}

// BenchmarkDrain: go test -run '^$' -bench Drain ./queue/driver/tripinpgsql
func BenchmarkDrain(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			db := open(b)
			drivertest.BenchmarkDrain(b, tripinpgsql.New(db, tripinpgsql.Options{}), 50000, batch, 2)
		})
	}
}

// TestListen checks that an insert notifies listeners when its
// transaction commits, never for a rollback, and that Listen returns when
// its context ends.
func TestListen(t *testing.T) {
	db := open(t)
	d := tripinpgsql.New(db, tripinpgsql.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan string, 16)
	done := make(chan error, 1)
	go func() { done <- d.Listen(ctx, func(q string) { events <- q }) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after cancel")
		}
	}()

	// Wait until the listener is connected: insert until an event arrives.
	deadline := time.Now().Add(10 * time.Second)
	for connected := false; !connected; {
		if time.Now().After(deadline) {
			t.Fatal("no notification within 10s")
		}
		if _, err := d.JobInsertMany(ctx, []*driver.JobInsertParams{{Queue: "warmup", Kind: "noop", Payload: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		select {
		case q := <-events:
			connected = q == "warmup"
		case <-time.After(200 * time.Millisecond):
		}
	}
	drain := func() {
		for {
			select {
			case <-events:
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	drain()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.JobInsertManyTx(ctx, tx, []*driver.JobInsertParams{{Queue: "rolled-back", Kind: "noop", Payload: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.JobInsertManyTx(ctx, tx, []*driver.JobInsertParams{
		{Queue: "emails", Kind: "noop", Payload: []byte(`{}`)},
		{Queue: "emails", Kind: "noop", Payload: []byte(`{}`)},
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`)},
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case q := <-events:
		t.Fatalf("notified %q before commit", q)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case q := <-events:
			got = append(got, q)
		case <-time.After(5 * time.Second):
			t.Fatalf("events after commit = %q, want emails and default", got)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"default", "emails"}) {
		t.Fatalf("events after commit = %q, want one per queue: default, emails", got)
	}
	select {
	case q := <-events:
		t.Fatalf("extra event %q (a rolled-back insert or a duplicate)", q)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestListenReconnects kills the listener's connection and checks that
// events flow again.
func TestListenReconnects(t *testing.T) {
	db := open(t)
	d := tripinpgsql.New(db, tripinpgsql.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan string, 64)
	go d.Listen(ctx, func(q string) { events <- q })
	waitEvent := func(what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if time.Now().After(deadline) {
				t.Fatalf("no notification %s", what)
			}
			if _, err := d.JobInsertMany(ctx, []*driver.JobInsertParams{{Queue: "q", Kind: "noop", Payload: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-events:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	waitEvent("at start")
	res, err := db.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("terminated %d listener connections, want 1", n)
	}
	for len(events) > 0 {
		<-events
	}
	waitEvent("after the connection was killed")
}
