package drivertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// OpenTwice creates an empty database of dialect d, migrated, and opens it
// through two stores, as two processes would: nothing but the database
// connects them.
func OpenTwice(t *testing.T, d sqldb.Dialect, newDSN func(testing.TB, sqldb.Dialect) string, ms []sqldb.Migration) (*sqldb.DB, *sqldb.DB) {
	t.Helper()
	ctx := context.Background()
	dsn := newDSN(t, d)
	var dbs [2]*sqldb.DB
	for i := range dbs {
		db, err := sqldb.Open(ctx, sqldb.OpenParams{Dialect: d, DSN: dsn})
		if err != nil {
			t.Fatalf("open %s: %v", d, err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	if _, err := dbs[0].Migrate(ctx, ms); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dbs[0], dbs[1]
}

// ExerciseListener checks a driver.Listener across processes. open returns
// a listening driver and another driver on the same database through a
// separate pool (another process's).
func ExerciseListener(t *testing.T, open func(t *testing.T) (listening, other driver.Driver)) {
	t.Run("ReportsJobsOfAnotherProcess", func(t *testing.T) { testListenReports(t, open) })
	t.Run("WakesAnIdleWorker", func(t *testing.T) { testListenWakesWorker(t, open) })
}

// queueEvents collects the queues a listener reports.
type queueEvents struct {
	mu  sync.Mutex
	got []string
}

func (e *queueEvents) add(q string) { e.mu.Lock(); e.got = append(e.got, q); e.mu.Unlock() }
func (e *queueEvents) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

func testListenReports(t *testing.T, open func(t *testing.T) (driver.Driver, driver.Driver)) {
	here, other := open(t)
	l, ok := here.(driver.Listener)
	if !ok {
		t.Fatalf("%T is not a driver.Listener", here)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events queueEvents
	done := make(chan error, 1)
	go func() { done <- l.Listen(ctx, events.add) }()
	time.Sleep(100 * time.Millisecond) // the listener has taken its starting point

	// A delayed job, and a commit without jobs, are not news.
	insert := func(params ...*driver.JobInsertParams) {
		t.Helper()
		if _, err := other.JobInsertMany(ctx, params); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
	later := job("later", "noop")
	later.Delay = time.Hour
	insert(later)
	if err := other.CachePut(ctx, "drivertest:listen", "x", time.Minute); err != nil {
		t.Fatalf("cache put: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := events.list(); len(got) != 0 {
		t.Fatalf("events for a delayed job or a cache write: %v", got)
	}

	// Jobs available now: each of their queues is reported. On a slow
	// host the listener may take its starting point after an insert, so
	// the insert is repeated until it is seen (or the deadline passes).
	deadline := time.Now().Add(10 * time.Second)
	for !hasAll(events.list(), "default", "emails") {
		if time.Now().After(deadline) {
			t.Fatalf("queues reported: %v, want default and emails", events.list())
		}
		insert(job("emails", "noop"), job("emails", "noop"), job("default", "noop"))
		for wait := time.Now().Add(time.Second); time.Now().Before(wait) && !hasAll(events.list(), "default", "emails"); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, q := range events.list() {
		if q != "default" && q != "emails" {
			t.Fatalf("reported queue %q, which got no job available now", q)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Listen after cancel: %v", err)
	}
}

func hasAll(got []string, want ...string) bool {
	seen := map[string]bool{}
	for _, q := range got {
		seen[q] = true
	}
	for _, q := range want {
		if !seen[q] {
			return false
		}
	}
	return true
}

type pingArgs struct{}

func (pingArgs) Kind() string { return "drivertest_ping" }

// testListenWakesWorker: a worker whose polls are an hour apart still
// starts at once a job another process inserted, because its listener
// wakes it.
func testListenWakesWorker(t *testing.T, open func(t *testing.T) (driver.Driver, driver.Driver)) {
	here, other := open(t)
	ctx := context.Background()
	ws := queue.NewWorkers()
	started := make(chan time.Time, 3)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[pingArgs]) error {
		started <- time.Now()
		return nil
	}))
	worker, err := queue.NewClient(here, &queue.Config{Workers: ws})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(ctx, queue.WorkParams{
		Queues: []string{"default"}, Sleep: time.Hour, PollInterval: time.Hour, ListenPollInterval: time.Hour,
		RestartInterval: -1,
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := worker.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	time.Sleep(300 * time.Millisecond) // past the worker's first, empty claim

	inserter, err := queue.NewClient(other, &queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// A listener that took its starting point late (a slow host) misses
	// the first insert; the next one must wake the worker.
	for attempt := 1; ; attempt++ {
		at := time.Now()
		if _, err := inserter.Insert(ctx, pingArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-started:
			if d := s.Sub(at); d > 3*time.Second {
				t.Fatalf("the job started %s after its insert", d)
			}
			return
		case <-time.After(3 * time.Second):
			if attempt == 3 {
				t.Fatal("the worker was not woken by the other process's inserts")
			}
		}
	}
}
