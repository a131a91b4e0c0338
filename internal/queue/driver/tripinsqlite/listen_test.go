package tripinsqlite_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/queue"
	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// openTwice opens one database file through two stores, as two processes
// would: nothing but the file connects them.
func openTwice(t *testing.T) (*store.DB, *store.DB) {
	t.Helper()
	ctx := context.Background()
	dsn := storetest.NewDSN(t, store.SQLite)
	var dbs [2]*store.DB
	for i := range dbs {
		db, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: dsn})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	_, err := dbs[0].Migrate(ctx)
	require.NoError(t, err)
	return dbs[0], dbs[1]
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

func TestListenSeesJobsInsertedByAnotherConnection(t *testing.T) {
	here, there := openTwice(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := tripinsqlite.New(here, tripinsqlite.Options{}).Listening(0).(driver.Listener)
	other := tripinsqlite.New(there, tripinsqlite.Options{})

	var events queueEvents
	done := make(chan error, 1)
	go func() { done <- l.Listen(ctx, events.add) }()
	time.Sleep(50 * time.Millisecond) // the listener has read its starting point

	// A delayed job and a commit without jobs are not news.
	_, err := other.JobInsertMany(ctx, []*driver.JobInsertParams{{Queue: "later", Kind: "noop", Payload: []byte(`{}`), Delay: time.Hour}})
	require.NoError(t, err)
	_, err = there.DB.ExecContext(ctx, `INSERT INTO cache (key, value, expiration) VALUES ('k', 'v', 0)`)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, events.list())

	// Jobs available now: one event per queue and look.
	_, err = other.JobInsertMany(ctx, []*driver.JobInsertParams{
		{Queue: "emails", Kind: "noop", Payload: []byte(`{}`)},
		{Queue: "emails", Kind: "noop", Payload: []byte(`{}`)},
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`)},
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(events.list()) == 2 }, 2*time.Second, 5*time.Millisecond)
	require.ElementsMatch(t, []string{"default", "emails"}, events.list())

	cancel()
	require.NoError(t, <-done)
}

type pingArgs struct{}

func (pingArgs) Kind() string { return "ping" }

// A worker whose polls are an hour apart still starts a job inserted by
// another process at once: the listener wakes it.
func TestWorkerWokenByAnotherProcessInsert(t *testing.T) {
	here, there := openTwice(t)
	ctx := context.Background()
	ws := queue.NewWorkers()
	started := make(chan time.Time, 1)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[pingArgs]) error {
		started <- time.Now()
		return nil
	}))
	worker, err := queue.NewClient(tripinsqlite.New(here, tripinsqlite.Options{}).Listening(0), &queue.Config{Workers: ws})
	require.NoError(t, err)
	require.NoError(t, worker.Start(ctx, queue.WorkParams{
		Queues: []string{"default"}, Sleep: time.Hour, PollInterval: time.Hour, ListenPollInterval: time.Hour,
		RestartInterval: -1,
	}))
	defer func() { require.NoError(t, worker.Stop(context.Background())) }()
	time.Sleep(200 * time.Millisecond) // past the worker's first, empty claim

	inserter, err := queue.NewClient(tripinsqlite.New(there, tripinsqlite.Options{}), &queue.Config{})
	require.NoError(t, err)
	at := time.Now()
	_, err = inserter.Insert(ctx, pingArgs{}, nil)
	require.NoError(t, err)
	select {
	case s := <-started:
		require.Less(t, s.Sub(at), 2*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("the worker was not woken by the other process's insert")
	}
}
