package telemetry_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/internal/telemetry"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/queuetest"
)

// The job kinds of the test: one that succeeds, one that fails its first
// attempt and succeeds on the second, one that always fails, and one that
// snoozes (a release that gives its attempt back).
type okArgs struct{}

func (okArgs) Kind() string { return "Ok" }

type flakyArgs struct{}

func (flakyArgs) Kind() string { return "Flaky" }

type brokenArgs struct{}

func (brokenArgs) Kind() string { return "Broken" }

type snoozeArgs struct{}

func (snoozeArgs) Kind() string { return "Snooze" }

// families is one parsed scrape.
type families map[string]*dto.MetricFamily

// scrape GETs url and parses the text exposition.
func scrape(t *testing.T, url string) families {
	t.Helper()
	f, err := tryScrape(url)
	require.NoError(t, err)
	return f
}

// tryScrape is scrape for conditions polled off the test's goroutine,
// where a failed require cannot stop the test.
func tryScrape(url string) (families, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s: %s", res.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape: %w\n%s", err, body)
	}
	return fams, nil
}

// find returns the series of name whose labels are exactly labels (given
// as name, value pairs), or nil.
func (f families) find(name string, labels ...string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// value is the value of a counter or gauge series; a missing series fails
// the test.
func (f families) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := f.find(name, labels...)
	require.NotNil(t, m, "no series %s%v", name, labels)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// count is the sample count of a histogram series, 0 when it is missing.
func (f families) count(name string, labels ...string) uint64 {
	m := f.find(name, labels...)
	if m == nil || m.Histogram == nil {
		return 0
	}
	return m.Histogram.GetSampleCount()
}

// world is the application around one Metrics: a queue client with a
// worker fed through the observer hook, and the API server with the
// metrics middleware and /metrics mounted.
type world struct {
	t       *testing.T
	db      *store.DB
	drv     driver.Driver
	metrics *telemetry.Metrics
	client  *queue.Client
	acc     *booking.Accounts
	url     string
}

func newWorld(t *testing.T, d store.Dialect) *world {
	t.Helper()
	drv, db := storetest.Driver(t, d)
	m := telemetry.New(telemetry.Options{CacheFor: time.Millisecond})
	m.WatchQueue(drv)
	m.WatchBookings(db)
	m.KeepQueues("default", "idle")

	ops, err := queue.NewOps(drv, &queue.OpsConfig{DisableMetrics: true, Observers: []func(context.Context, *driver.JobRow, queue.Outcome){m.ObserveJob}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ops.Close(context.Background()) })
	ws := queue.NewWorkers()
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[okArgs]) error { return nil }))
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[flakyArgs]) error {
		if j.Attempts == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}))
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[brokenArgs]) error {
		return errors.New("always fails")
	}))
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[snoozeArgs]) error {
		return queue.Snooze(time.Hour)
	}))
	c, err := queue.NewClient(queue.WithHooks(drv, ops), &queue.Config{Workers: ws, Location: time.UTC})
	require.NoError(t, err)

	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	require.NoError(t, err)
	svc := booking.NewService(booking.ServiceParams{Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(), MaxQuantity: 5})
	acc := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost})
	srv := httpapi.New(httpapi.Params{
		Config: cfg, DB: db, Bookings: svc, Accounts: acc, Metrics: m,
		Mount: func(mux *http.ServeMux, _ *httpapi.Server) { mux.Handle("GET /metrics", m.Handler()) },
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &world{t: t, db: db, drv: drv, metrics: m, client: c, acc: acc, url: ts.URL}
}

func (w *world) insert(args queue.JobArgs, opts *queue.InsertOpts) {
	w.t.Helper()
	_, err := w.client.Insert(context.Background(), args, opts)
	require.NoError(w.t, err)
}

// do sends a JSON request to the API and returns the status and body.
func (w *world) do(method, path, token string, body any) (int, map[string]any) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(w.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, w.url+path, rd)
	require.NoError(w.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestMetricsEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		w := newWorld(t, d)

		// Jobs the worker will take: three that succeed, one retried
		// once, one that fails for good, one that snoozes.
		for range 3 {
			w.insert(okArgs{}, nil)
		}
		w.insert(flakyArgs{}, &queue.InsertOpts{Tries: 2, Backoff: []time.Duration{0}})
		w.insert(brokenArgs{}, &queue.InsertOpts{Tries: 1})
		w.insert(snoozeArgs{}, &queue.InsertOpts{Tries: 3})
		// Jobs no worker takes: two pending and one delayed on a paused
		// queue.
		w.insert(okArgs{}, &queue.InsertOpts{Queue: "parked"})
		w.insert(okArgs{}, &queue.InsertOpts{Queue: "parked"})
		w.insert(okArgs{}, &queue.InsertOpts{Queue: "parked", Delay: time.Hour})
		adm, err := w.client.Admin()
		require.NoError(t, err)
		require.NoError(t, adm.QueuePause(ctx, "parked", "test"))

		// Before any worker ran, the depth is already there.
		f := scrape(t, w.url+"/metrics")
		require.Equal(t, 6.0, f.value(t, "tripin_queue_jobs", "queue", "default", "state", "pending"))
		require.Equal(t, 2.0, f.value(t, "tripin_queue_jobs", "queue", "parked", "state", "pending"))
		require.Nil(t, f.find("tripin_jobs_processed_total", "queue", "default", "kind", "Ok", "job", "Ok"))

		require.NoError(t, w.client.Start(context.Background(), queue.WorkParams{
			Queues: []string{"default"}, Concurrency: 2, Sleep: 100 * time.Millisecond,
			PollInterval: 10 * time.Millisecond, RestartInterval: -1, StopTimeout: 5 * time.Second, Output: io.Discard,
		}))
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, w.client.Stop(sctx))
		}
		t.Cleanup(stop)
		require.Eventually(t, func() bool {
			f, err := tryScrape(w.url + "/metrics")
			if err != nil {
				return false
			}
			done := func(name, kind string, want float64) bool {
				m := f.find(name, "queue", "default", "kind", kind, "job", kind)
				return m != nil && m.GetCounter().GetValue() == want
			}
			return done("tripin_jobs_processed_total", "Ok", 3) && done("tripin_jobs_processed_total", "Flaky", 1) &&
				done("tripin_jobs_failed_total", "Broken", 1) && done("tripin_jobs_released_total", "Snooze", 1)
		}, 20*time.Second, 50*time.Millisecond)
		stop()

		// Bookings through the API: three created, one paid, one expired.
		u, err := w.acc.CreateUser(ctx, booking.NewUser{Name: "Ayu", Email: "ayu@example.com", Password: "secret123"})
		require.NoError(t, err)
		tok, err := w.acc.IssueToken(ctx, u.ID, "test")
		require.NoError(t, err)
		now := time.Now().UTC().Truncate(time.Microsecond)
		tour := &booking.Tour{Title: "Bromo", Destination: "Jawa Timur", DepartureDate: now.AddDate(0, 0, 10).Format(booking.DateLayout),
			Price: 750_000, Capacity: 10, Quota: 10, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, w.db.TourCreate(ctx, tour))
		var ids []int64
		for range 3 {
			status, body := w.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
			require.Equal(t, http.StatusCreated, status, body)
			ids = append(ids, int64(body["data"].(map[string]any)["id"].(float64)))
		}
		status, _ := w.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 0})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		status, _ = w.do("GET", fmt.Sprintf("/api/bookings/%d", ids[0]), tok, nil)
		require.Equal(t, http.StatusOK, status)
		status, _ = w.do("GET", fmt.Sprintf("/api/bookings/%d", ids[1]), tok, nil)
		require.Equal(t, http.StatusOK, status)
		status, _ = w.do("GET", "/no/such/page/"+fmt.Sprint(time.Now().UnixNano()), "", nil)
		require.Equal(t, http.StatusNotFound, status)
		_, err = w.db.ExecContext(ctx, w.db.Rebind("UPDATE bookings SET status = 'paid', paid_at = ? WHERE id = ?"), now, ids[0])
		require.NoError(t, err)
		require.NoError(t, w.db.InTx(ctx, func(tx *sql.Tx) error {
			released, err := w.db.BookingReleaseTx(ctx, tx, ids[1], booking.StatusExpired, now)
			if err == nil && !released {
				err = errors.New("booking was not pending")
			}
			return err
		}))

		f = scrape(t, w.url+"/metrics")

		// Jobs worked by this process, fed by the observer hook.
		require.Equal(t, 3.0, f.value(t, "tripin_jobs_processed_total", "queue", "default", "kind", "Ok", "job", "Ok"))
		require.Equal(t, 1.0, f.value(t, "tripin_jobs_processed_total", "queue", "default", "kind", "Flaky", "job", "Flaky"))
		require.Equal(t, 1.0, f.value(t, "tripin_jobs_retried_total", "queue", "default", "kind", "Flaky", "job", "Flaky"))
		require.Equal(t, 1.0, f.value(t, "tripin_jobs_failed_total", "queue", "default", "kind", "Broken", "job", "Broken"))
		require.Equal(t, 1.0, f.value(t, "tripin_jobs_released_total", "queue", "default", "kind", "Snooze", "job", "Snooze"))
		require.Nil(t, f.find("tripin_jobs_processed_total", "queue", "default", "kind", "Broken", "job", "Broken"))
		require.Nil(t, f.find("tripin_jobs_failed_total", "queue", "default", "kind", "Flaky", "job", "Flaky"))
		// Seven handler runs (3 Ok, 2 Flaky, 1 Broken, 1 Snooze), each
		// after one claim, by job class.
		for job, n := range map[string]uint64{"Ok": 3, "Flaky": 2, "Broken": 1, "Snooze": 1} {
			require.Equal(t, n, f.count("tripin_job_duration_seconds", "queue", "default", "job", job), job)
			require.Equal(t, n, f.count("tripin_job_wait_seconds", "queue", "default", "job", job), job)
		}
		require.Zero(t, f.count("tripin_job_duration_seconds", "queue", "parked", "job", "Ok"))

		// Queue depth, read from the database.
		for _, c := range []struct {
			queue, state string
			want         float64
		}{
			{"default", "pending", 0}, {"default", "delayed", 1}, {"default", "reserved", 0}, {"default", "failed", 1},
			{"parked", "pending", 2}, {"parked", "delayed", 1}, {"parked", "reserved", 0}, {"parked", "failed", 0},
			{"idle", "pending", 0}, {"idle", "delayed", 0}, {"idle", "reserved", 0}, {"idle", "failed", 0},
		} {
			require.Equal(t, c.want, f.value(t, "tripin_queue_jobs", "queue", c.queue, "state", c.state), "%s %s", c.queue, c.state)
		}
		require.Equal(t, 1.0, f.value(t, "tripin_queue_paused", "queue", "parked"))
		require.Equal(t, 0.0, f.value(t, "tripin_queue_paused", "queue", "default"))
		require.Equal(t, 0.0, f.value(t, "tripin_queue_oldest_wait_seconds", "queue", "idle"))
		require.GreaterOrEqual(t, f.value(t, "tripin_queue_oldest_wait_seconds", "queue", "parked"), 0.0)

		// Bookings, read from the database.
		require.Equal(t, 3.0, f.value(t, "tripin_bookings_created_total"))
		require.Equal(t, 1.0, f.value(t, "tripin_bookings_paid_total"))
		require.Equal(t, 1.0, f.value(t, "tripin_bookings_expired_total"))
		for status, want := range map[string]float64{"pending": 1, "paid": 1, "expired": 1, "cancelled": 0, "failed": 0, "refunded": 0} {
			require.Equal(t, want, f.value(t, "tripin_bookings", "status", status), status)
		}

		// HTTP requests, by route pattern and status; never by raw path.
		require.Equal(t, uint64(3), f.count("tripin_http_request_duration_seconds", "method", "POST", "route", "POST /api/bookings", "status", "201"))
		require.Equal(t, uint64(1), f.count("tripin_http_request_duration_seconds", "method", "POST", "route", "POST /api/bookings", "status", "422"))
		require.Equal(t, uint64(2), f.count("tripin_http_request_duration_seconds", "method", "GET", "route", "GET /api/bookings/{id}", "status", "200"))
		require.Equal(t, uint64(1), f.count("tripin_http_request_duration_seconds", "method", "GET", "route", "unmatched", "status", "404"))
		require.GreaterOrEqual(t, f.count("tripin_http_request_duration_seconds", "method", "GET", "route", "GET /metrics", "status", "200"), uint64(2))
		for _, m := range f["tripin_http_request_duration_seconds"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					require.NotContains(t, l.GetValue(), "/no/such", "a raw path became a label")
					require.NotContains(t, l.GetValue(), fmt.Sprint(ids[0]), "a raw path became a label")
				}
			}
		}

		// The standard collectors are there too.
		require.NotNil(t, f["go_goroutines"])
		require.NotNil(t, f["process_cpu_seconds_total"])
		require.Zero(t, f.value(t, "tripin_queue_jobs", "queue", "default", "state", "reserved"))
	})
}

// statsDriver is a real driver whose QueueStats the test counts and can
// make fail.
type statsDriver struct {
	driver.Driver
	driver.Admin
	calls atomic.Int64
	fail  atomic.Bool
}

func (s *statsDriver) QueueStats(ctx context.Context, p *driver.QueueStatsParams) ([]*driver.QueueStat, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return nil, errors.New("database is away")
	}
	return s.Admin.QueueStats(ctx, p)
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

func TestQueueStatsCachedAndErrorsLoggedOnce(t *testing.T) {
	drv, _ := queuetest.Driver(t, store.SQLite)
	sd := &statsDriver{Driver: drv, Admin: drv.(driver.Admin)}
	logs := &syncBuffer{}
	// The cache runs on a clock the test moves, so that a slow machine
	// cannot let a second pass between two scrapes meant to be cached.
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	tick := func() { clock.Add(int64(1100 * time.Millisecond)) }
	m := telemetry.New(telemetry.Options{CacheFor: time.Second, Now: now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	m.WatchQueue(sd)
	m.KeepQueues("default")
	ts := httptest.NewServer(m.Handler())
	t.Cleanup(ts.Close)

	c, err := queue.NewClient(drv, &queue.Config{Location: time.UTC})
	require.NoError(t, err)
	_, err = c.Insert(context.Background(), okArgs{}, nil)
	require.NoError(t, err)

	f := scrape(t, ts.URL)
	require.Equal(t, 1.0, f.value(t, "tripin_queue_jobs", "queue", "default", "state", "pending"))
	// Scrapes within the cache time are answered from memory: the job
	// inserted meanwhile is not seen and the database is not asked.
	_, err = c.Insert(context.Background(), okArgs{}, nil)
	require.NoError(t, err)
	for range 5 {
		f = scrape(t, ts.URL)
	}
	require.Equal(t, 1.0, f.value(t, "tripin_queue_jobs", "queue", "default", "state", "pending"))
	require.Equal(t, int64(1), sd.calls.Load())
	tick()
	f = scrape(t, ts.URL)
	require.Equal(t, 2.0, f.value(t, "tripin_queue_jobs", "queue", "default", "state", "pending"))
	require.Equal(t, int64(2), sd.calls.Load())

	// A failing read leaves the queue series out, keeps the rest of the
	// scrape, counts each failed read and logs the run of failures once.
	sd.fail.Store(true)
	for range 3 {
		tick()
		f = scrape(t, ts.URL)
		require.Nil(t, f["tripin_queue_jobs"])
		require.NotNil(t, f["go_goroutines"])
	}
	// The registry gathers its collectors concurrently, so a scrape may
	// show the error counter before or after its own failed read; the
	// next scrape, answered from the cached failure, reads no more.
	f = scrape(t, ts.URL)
	require.Nil(t, f["tripin_queue_jobs"])
	require.Equal(t, int64(5), sd.calls.Load(), "a scrape within the cache time asked the database")
	require.Equal(t, 3.0, f.value(t, "tripin_metrics_read_errors_total", "source", "queue_stats"))
	require.Equal(t, 1, strings.Count(logs.String(), "read for metrics failed"), logs.String())
	sd.fail.Store(false)
	tick()
	f = scrape(t, ts.URL)
	require.Equal(t, 2.0, f.value(t, "tripin_queue_jobs", "queue", "default", "state", "pending"))
	require.Contains(t, logs.String(), "works again")
}

// registryDriver is a driver with a fixed process table.
type registryDriver struct {
	driver.Driver
	procs  []*driver.Process
	params atomic.Pointer[driver.ProcessListParams]
}

func (r *registryDriver) ProcessHeartbeat(context.Context, *driver.Process) error { return nil }
func (r *registryDriver) ProcessRemove(context.Context, string) error             { return nil }
func (r *registryDriver) ProcessPrune(context.Context, time.Duration) (int, error) {
	return 0, nil
}

func (r *registryDriver) ProcessList(_ context.Context, p *driver.ProcessListParams) ([]*driver.Process, error) {
	r.params.Store(p)
	return r.procs, nil
}

func TestWorkersLiveCountsProcessesByKind(t *testing.T) {
	rd := &registryDriver{procs: []*driver.Process{
		{ID: "a", Kind: driver.ProcessWorker}, {ID: "b", Kind: driver.ProcessWorker}, {ID: "c", Kind: driver.ProcessWorker},
		{ID: "d", Kind: driver.ProcessScheduler},
	}}
	m := telemetry.New(telemetry.Options{})
	ts := httptest.NewServer(m.Handler())
	t.Cleanup(ts.Close)

	// Without a registry there is nothing to report, and no error either.
	require.Nil(t, scrape(t, ts.URL)["tripin_workers_live"])

	m.WatchQueue(rd)
	f := scrape(t, ts.URL)
	require.Equal(t, 3.0, f.value(t, "tripin_workers_live", "kind", "worker"))
	require.Equal(t, 1.0, f.value(t, "tripin_workers_live", "kind", "scheduler"))
	require.Equal(t, 60*time.Second, rd.params.Load().StaleAfter)
	// The driver has no Admin: no queue series.
	require.Nil(t, f["tripin_queue_jobs"])
}

func TestWorkersLiveFromDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		drv, _ := queuetest.Driver(t, d)
		reg, ok := drv.(driver.Registry)
		if !ok {
			t.Skipf("the %s queue driver does not implement driver.Registry yet", d)
		}
		ctx := context.Background()
		for _, p := range []*driver.Process{
			{ID: "host:1:a", Kind: driver.ProcessWorker, Host: "host", PID: 1, Queues: []string{"default"}, Concurrency: 4, StartedAt: time.Now()},
			{ID: "host:2:b", Kind: driver.ProcessWorker, Host: "host", PID: 2, Queues: []string{"emails"}, Concurrency: 4, StartedAt: time.Now()},
			{ID: "host:3:c", Kind: driver.ProcessScheduler, Host: "host", PID: 3, StartedAt: time.Now()},
		} {
			require.NoError(t, reg.ProcessHeartbeat(ctx, p))
		}
		m := telemetry.New(telemetry.Options{})
		m.WatchQueue(drv)
		ts := httptest.NewServer(m.Handler())
		t.Cleanup(ts.Close)
		f := scrape(t, ts.URL)
		require.Equal(t, 2.0, f.value(t, "tripin_workers_live", "kind", "worker"))
		require.Equal(t, 1.0, f.value(t, "tripin_workers_live", "kind", "scheduler"))

		// A clean stop removes the process; past the cache it is gone.
		require.NoError(t, reg.ProcessRemove(ctx, "host:2:b"))
		time.Sleep(telemetry.DefaultCacheFor + 100*time.Millisecond)
		f = scrape(t, ts.URL)
		require.Equal(t, 1.0, f.value(t, "tripin_workers_live", "kind", "worker"))
	})
}

// TestLeaseLostCounted: an outcome a hooked driver could not write because
// another worker had taken the job over reaches the observers as
// OutcomeLeaseLost and is counted, and nothing else is.
func TestLeaseLostCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		raw, _ := queuetest.Driver(t, d)
		m := telemetry.New(telemetry.Options{})
		ops, err := queue.NewOps(raw, &queue.OpsConfig{Observers: []func(context.Context, *driver.JobRow, queue.Outcome){m.ObserveJob}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ops.Close(ctx) })
		hooked := queue.WithHooks(raw, ops)
		now, err := raw.Now(ctx)
		require.NoError(t, err)
		_, err = raw.JobInsertMany(ctx, []*driver.JobInsertParams{{Queue: "default", Kind: "Ok", Payload: []byte(`{}`), AvailableAt: now.Add(-time.Hour)}})
		require.NoError(t, err)
		mine, err := hooked.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "stalled", RetryAfter: time.Minute, Now: now.Add(-10 * time.Minute)})
		require.NoError(t, err)
		require.Len(t, mine, 1)
		theirs, err := raw.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 1, WorkerID: "rescuer", RetryAfter: time.Minute})
		require.NoError(t, err)
		require.Len(t, theirs, 1)
		stale, err := hooked.JobCompleteMany(ctx, driver.CompleteParamsOf(mine))
		require.NoError(t, err)
		require.Equal(t, []int64{mine[0].ID}, stale)

		ts := httptest.NewServer(m.Handler())
		t.Cleanup(ts.Close)
		f := scrape(t, ts.URL)
		require.Equal(t, 1.0, f.value(t, "tripin_jobs_lease_lost_total", "queue", "default", "kind", "Ok", "job", "Ok"))
		require.Nil(t, f.find("tripin_jobs_processed_total", "queue", "default", "kind", "Ok", "job", "Ok"))
	})
}

// TestQueueJobsStopAtCountLimit: above the count limit a queue's series
// read limit+1 ("more than the limit", with tripin_queue_count_limit
// saying where counting stopped); below it they are exact.
func TestQueueJobsStopAtCountLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		drv, _ := queuetest.Driver(t, d)
		ws := queue.NewWorkers()
		queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[okArgs]) error { return nil }))
		c, err := queue.NewClient(drv, &queue.Config{Workers: ws})
		require.NoError(t, err)
		var many []queue.InsertManyParams
		for range 9 {
			many = append(many, queue.InsertManyParams{Args: okArgs{}, Opts: &queue.InsertOpts{Queue: "big"}})
		}
		for range 3 {
			many = append(many, queue.InsertManyParams{Args: okArgs{}, Opts: &queue.InsertOpts{Queue: "big", Delay: time.Hour}})
			many = append(many, queue.InsertManyParams{Args: okArgs{}, Opts: &queue.InsertOpts{Queue: "small"}})
		}
		_, err = c.InsertMany(ctx, many)
		require.NoError(t, err)

		m := telemetry.New(telemetry.Options{CountLimit: 5})
		m.WatchQueue(drv)
		ts := httptest.NewServer(m.Handler())
		t.Cleanup(ts.Close)
		f := scrape(t, ts.URL)
		require.Equal(t, 5.0, f.value(t, "tripin_queue_count_limit"))
		require.Equal(t, 6.0, f.value(t, "tripin_queue_jobs", "queue", "big", "state", "pending"), "9 pending jobs over a limit of 5")
		require.Equal(t, 3.0, f.value(t, "tripin_queue_jobs", "queue", "big", "state", "delayed"))
		require.Equal(t, 3.0, f.value(t, "tripin_queue_jobs", "queue", "small", "state", "pending"))

		exact := telemetry.New(telemetry.Options{CountLimit: -1})
		exact.WatchQueue(drv)
		ts2 := httptest.NewServer(exact.Handler())
		t.Cleanup(ts2.Close)
		f = scrape(t, ts2.URL)
		require.Equal(t, 0.0, f.value(t, "tripin_queue_count_limit"))
		require.Equal(t, 9.0, f.value(t, "tripin_queue_jobs", "queue", "big", "state", "pending"))
	})
}
