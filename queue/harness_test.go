package queue_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// testArgs is the job most tests work.
type testArgs struct {
	N    int    `json:"n"`
	Name string `json:"name,omitempty"`
}

func (testArgs) Kind() string { return "Test" }

// mailArgs has per-kind defaults.
type mailArgs struct {
	To string `json:"to"`
}

func (mailArgs) Kind() string { return "SendTestMail" }

func (mailArgs) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: "emails", Tries: 3, Timeout: 120 * time.Second, Backoff: []time.Duration{10 * time.Second, 30 * time.Second}}
}

// countingDriver counts the driver calls the engine makes.
type countingDriver struct {
	driver.Driver
	inserts, completes, completed atomic.Int64
}

func (c *countingDriver) JobInsertMany(ctx context.Context, p []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	c.inserts.Add(1)
	return c.Driver.JobInsertMany(ctx, p)
}

func (c *countingDriver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	c.completes.Add(1)
	c.completed.Add(int64(len(p.Jobs)))
	return c.Driver.JobCompleteMany(ctx, p)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t     *testing.T
	d     driver.Driver
	db    *sqldb.DB
	ws    *queue.Workers
	clock *queuetest.Clock
	logs  *syncBuffer
}

// each runs fn against every available backend.
func each(t *testing.T, fn func(t *testing.T, h *harness)) {
	sqldbtest.Each(t, func(t *testing.T, d sqldb.Dialect) {
		t.Parallel()
		drv, db := queuetest.Driver(t, d)
		h := &harness{t: t, d: drv, db: db, ws: queue.NewWorkers(), logs: &syncBuffer{}}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("engine log:\n%s", h.logs.String())
			}
		})
		fn(t, h)
	})
}

// withClock makes the harness's clients use a fake clock starting now.
func (h *harness) withClock() *queuetest.Clock {
	h.clock = queuetest.NewClock(time.Now())
	return h.clock
}

func (h *harness) config(mod ...func(*queue.Config)) *queue.Config {
	cfg := &queue.Config{
		Workers:  h.ws,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Location: time.UTC,
	}
	if h.clock != nil {
		cfg.Clock = h.clock
	}
	for _, m := range mod {
		m(cfg)
	}
	return cfg
}

func (h *harness) client(mod ...func(*queue.Config)) *queue.Client {
	h.t.Helper()
	c, err := queue.NewClient(h.d, h.config(mod...))
	require.NoError(h.t, err)
	return c
}

// params are fast WorkParams for tests.
func params(mod ...func(*queue.WorkParams)) queue.WorkParams {
	p := queue.WorkParams{
		Concurrency:     4,
		Sleep:           100 * time.Millisecond,
		PollInterval:    10 * time.Millisecond,
		RestartInterval: -1,
		StopTimeout:     5 * time.Second,
	}
	for _, m := range mod {
		m(&p)
	}
	return p
}

// run runs workers until they stop on their own, failing the test after
// 15 seconds.
func (h *harness) run(c *queue.Client, p queue.WorkParams) error {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := c.Run(ctx, p)
	require.NoError(h.t, ctx.Err(), "Run did not stop on its own")
	return err
}

// start runs workers in the background and stops them at cleanup.
func (h *harness) start(c *queue.Client, p queue.WorkParams) {
	h.t.Helper()
	require.NoError(h.t, c.Start(context.Background(), p))
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
}

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.QueryRowContext(context.Background(), h.db.Rebind(query), args...).Scan(&n))
	return n
}

// jobState is a jobs row as the tests look at it.
type jobState struct {
	exists      bool
	attempts    int
	reserved    bool
	availableAt int64
	lastError   string
}

func (h *harness) job(id int64) jobState {
	h.t.Helper()
	var (
		s          jobState
		reservedAt sql.NullInt64
		lastError  sql.NullString
	)
	err := h.db.QueryRowContext(context.Background(), h.db.Rebind(
		"SELECT attempts, reserved_at, available_at, last_error FROM jobs WHERE id = ?"), id).
		Scan(&s.attempts, &reservedAt, &s.availableAt, &lastError)
	if err == sql.ErrNoRows {
		return s
	}
	require.NoError(h.t, err)
	s.exists, s.reserved, s.lastError = true, reservedAt.Valid, lastError.String
	return s
}

// failedJob is a failed_jobs row.
type failedJob struct {
	uuid, connection, queue, payload, exception string
}

func (h *harness) failedJobs() []failedJob {
	h.t.Helper()
	rows, err := h.db.QueryContext(context.Background(), "SELECT uuid, connection, queue, payload, exception FROM failed_jobs ORDER BY id")
	require.NoError(h.t, err)
	defer rows.Close()
	var out []failedJob
	for rows.Next() {
		var f failedJob
		require.NoError(h.t, rows.Scan(&f.uuid, &f.connection, &f.queue, &f.payload, &f.exception))
		out = append(out, f)
	}
	require.NoError(h.t, rows.Err())
	return out
}

// eventually waits up to 10 seconds for cond.
func (h *harness) eventually(cond func() bool, msg string) {
	h.t.Helper()
	require.Eventually(h.t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

func (h *harness) insert(c *queue.Client, args queue.JobArgs, opts *queue.InsertOpts) int64 {
	h.t.Helper()
	res, err := c.Insert(context.Background(), args, opts)
	require.NoError(h.t, err)
	require.False(h.t, res.Skipped)
	return res.ID
}

// calls collects the attempts a handler saw.
type calls struct {
	mu  sync.Mutex
	got []*queue.Job[testArgs]
	ch  chan *queue.Job[testArgs]
}

func newCalls() *calls { return &calls{ch: make(chan *queue.Job[testArgs], 100)} }

func (c *calls) add(j *queue.Job[testArgs]) {
	c.mu.Lock()
	c.got = append(c.got, j)
	c.mu.Unlock()
	select {
	case c.ch <- j:
	default: // nobody is waiting for each call
	}
}

func (c *calls) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// next waits for the handler's next call.
func (c *calls) next(t *testing.T) *queue.Job[testArgs] {
	t.Helper()
	select {
	case j := <-c.ch:
		return j
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called within 10s")
		return nil
	}
}

// none asserts that the handler is not called for d.
func (c *calls) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case j := <-c.ch:
		t.Fatalf("handler called unexpectedly (attempt %d)", j.Attempts)
	case <-time.After(d):
	}
}

// handle registers fn as the worker of testArgs, recording each call.
func (h *harness) handle(fn func(ctx context.Context, job *queue.Job[testArgs]) error) *calls {
	cs := newCalls()
	queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[testArgs]) error {
		cs.add(job)
		return fn(ctx, job)
	}))
	return cs
}
