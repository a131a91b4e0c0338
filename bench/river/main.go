// Command river measures River (github.com/riverqueue/river) on the same
// workload as `tripin bench queue`, so the two can be compared in one run on
// the same PostgreSQL server and the same SQLite settings:
//
//	go run . --backend pgsql --dsn postgres://postgres@127.0.0.1:5432/test?sslmode=disable --jobs 20000 --json
//	go run . --backend sqlite --jobs 20000 --json
//
// It prints one JSON line with backend, jobs, insert_per_sec (InsertMany of
// N no-op jobs in chunks), work_per_sec (one client draining N pre-inserted
// no-op jobs: the median of --runs drains at the best of a few MaxWorkers
// settings) and latency_p50_ms / latency_p99_ms (enqueue to handler start,
// one job at a time, with idle workers waiting).
//
// This is a separate Go module so that the product never depends on River.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqlitePragmas are the connection settings Tripin's store uses for SQLite
// (queue/sqldb/sqldb.go): WAL, synchronous NORMAL and a busy timeout, so
// both engines pay the same price per commit.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"

// Result is the line the benchmark prints. Its first six fields match the
// output of `tripin bench queue`.
type Result struct {
	Engine       string  `json:"engine"`
	Backend      string  `json:"backend"`
	Jobs         int     `json:"jobs"`
	InsertPerSec float64 `json:"insert_per_sec"`
	WorkPerSec   float64 `json:"work_per_sec"`
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	// MaxWorkers is the setting with the best median work_per_sec;
	// InsertPerSec and WorkPerSec are medians over its runs.
	MaxWorkers int     `json:"max_workers"`
	Trials     []Trial `json:"trials"`
}

// Trial is one drain at one MaxWorkers setting.
type Trial struct {
	MaxWorkers   int     `json:"max_workers"`
	InsertPerSec float64 `json:"insert_per_sec"`
	WorkPerSec   float64 `json:"work_per_sec"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "river bench: "+err.Error())
		os.Exit(1)
	}
}

type options struct {
	backend         string
	dsn             string
	jobs            int
	insertBatch     int
	maxWorkers      []int
	latencyJobs     int
	latencyInterval time.Duration
	fetchCooldown   time.Duration
	fetchPoll       time.Duration
	runs            int
	asJSON          bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("river", flag.ContinueOnError)
	var o options
	var workers string
	fs.StringVar(&o.backend, "backend", "pgsql", "sqlite or pgsql")
	fs.StringVar(&o.dsn, "dsn", "", "PostgreSQL server DSN (a fresh database is created on it); ignored for sqlite")
	fs.IntVar(&o.jobs, "jobs", 20000, "jobs to insert and drain")
	fs.IntVar(&o.insertBatch, "insert-batch", 1000, "jobs per InsertMany call")
	fs.StringVar(&workers, "max-workers", "", "comma-separated MaxWorkers settings to try (default 100,1000,2000 on pgsql; 100,1000 on sqlite)")
	fs.IntVar(&o.latencyJobs, "latency-jobs", 500, "jobs inserted one at a time for the latency measurement")
	fs.DurationVar(&o.latencyInterval, "latency-interval", 10*time.Millisecond, "pause between latency inserts")
	fs.DurationVar(&o.fetchCooldown, "fetch-cooldown", 2*time.Millisecond, "River FetchCooldown (River's own benchmark uses 2ms)")
	fs.DurationVar(&o.fetchPoll, "fetch-poll", 20*time.Millisecond, "River FetchPollInterval (River's own benchmark uses 20ms)")
	fs.IntVar(&o.runs, "runs", 3, "drains per MaxWorkers setting; the median counts")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if workers == "" {
		workers = "100,1000,2000"
		if o.backend == "sqlite" {
			workers = "100,1000"
		}
	}
	for _, w := range strings.Split(workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			return fmt.Errorf("--max-workers: bad value %q", w)
		}
		o.maxWorkers = append(o.maxWorkers, n)
	}
	if o.jobs < 1 || o.insertBatch < 1 || o.runs < 1 {
		return errors.New("--jobs, --insert-batch and --runs must be positive")
	}
	var open func(ctx context.Context) (backend, error)
	switch o.backend {
	case "pgsql":
		if o.dsn == "" {
			o.dsn = os.Getenv("TRIPIN_TEST_PGSQL_DSN")
		}
		if o.dsn == "" {
			o.dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		}
		open = func(ctx context.Context) (backend, error) { return openPg(ctx, o.dsn) }
	case "sqlite":
		open = openSQLite
	default:
		return fmt.Errorf("--backend must be sqlite or pgsql, not %q", o.backend)
	}

	res := Result{Engine: "river", Backend: o.backend, Jobs: o.jobs}
	// Runs alternate between the settings so that a noisy moment on a
	// shared machine hits them alike; each setting scores the median of
	// its runs.
	for range o.runs {
		for _, mw := range o.maxWorkers {
			tr, err := drainTrial(ctx, open, o, mw)
			if err != nil {
				return fmt.Errorf("max workers %d: %w", mw, err)
			}
			res.Trials = append(res.Trials, tr)
			if !o.asJSON {
				fmt.Fprintf(stdout, "river %s max_workers=%d: insert %.0f/s, work %.0f/s\n", o.backend, mw, tr.InsertPerSec, tr.WorkPerSec)
			}
		}
	}
	for _, mw := range o.maxWorkers {
		var inserts, works []float64
		for _, tr := range res.Trials {
			if tr.MaxWorkers == mw {
				inserts, works = append(inserts, tr.InsertPerSec), append(works, tr.WorkPerSec)
			}
		}
		res.InsertPerSec = max(res.InsertPerSec, median(inserts))
		if w := median(works); w > res.WorkPerSec {
			res.WorkPerSec, res.MaxWorkers = w, mw
		}
	}
	if o.latencyJobs > 0 {
		p50, p99, err := latencyTrial(ctx, open, o, res.MaxWorkers)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		res.LatencyP50MS, res.LatencyP99MS = p50, p99
	}
	if o.asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "river %s: jobs=%d insert_per_sec=%.0f work_per_sec=%.0f (max_workers=%d) latency p50=%.2fms p99=%.2fms\n",
		res.Backend, res.Jobs, res.InsertPerSec, res.WorkPerSec, res.MaxWorkers, res.LatencyP50MS, res.LatencyP99MS)
	return nil
}

// backend is a freshly created, migrated River database. The type parameter
// of River's client differs per driver, so the benchmark steps are closures.
type backend interface {
	newClient(cfg *river.Config) (riverClient, error)
	close()
}

// riverClient is the part of *river.Client[TTx] the benchmark uses, free of
// the transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	InsertMany(ctx context.Context, params []river.InsertManyParams) error
	SubscribeConfig(config *river.SubscribeConfig) (<-chan *river.Event, func())
}

type clientAdapter[TTx any] struct{ c *river.Client[TTx] }

func (a clientAdapter[TTx]) Start(ctx context.Context) error { return a.c.Start(ctx) }
func (a clientAdapter[TTx]) Stop(ctx context.Context) error  { return a.c.Stop(ctx) }
func (a clientAdapter[TTx]) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := a.c.Insert(ctx, args, opts)
	return err
}
func (a clientAdapter[TTx]) InsertMany(ctx context.Context, params []river.InsertManyParams) error {
	_, err := a.c.InsertMany(ctx, params)
	return err
}
func (a clientAdapter[TTx]) SubscribeConfig(config *river.SubscribeConfig) (<-chan *river.Event, func()) {
	return a.c.SubscribeConfig(config)
}

func newAdapter[TTx any](driver riverdriver.Driver[TTx], cfg *river.Config) (riverClient, error) {
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, err
	}
	return clientAdapter[TTx]{c}, nil
}

func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quietLogger()})
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

type pgBackend struct {
	pool   *pgxpool.Pool
	driver *riverpgxv5.Driver
	admin  string // DSN of the server's original database, to drop ours
	name   string
}

// openPg creates a database river_bench_<random> on the server of dsn,
// migrates it and opens a pool on it.
func openPg(ctx context.Context, dsn string) (backend, error) {
	name := fmt.Sprintf("river_bench_%d", rand.Uint32())
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	b := &pgBackend{admin: dsn, name: name}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.close()
		return nil, err
	}
	cfg.ConnConfig.Database = name
	// The same pool size as Tripin's PostgreSQL store.
	cfg.MaxConns = 32
	b.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.close()
		return nil, err
	}
	b.driver = riverpgxv5.New(b.pool)
	if err := migrate(ctx, b.driver); err != nil {
		b.close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return b, nil
}

func (b *pgBackend) newClient(cfg *river.Config) (riverClient, error) {
	return newAdapter(b.driver, cfg)
}

func (b *pgBackend) close() {
	if b.pool != nil {
		b.pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, b.admin)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+b.name+" WITH (FORCE)")
}

type sqliteBackend struct {
	db     *sql.DB
	driver *riversqlite.Driver
	dir    string
}

// openSQLite creates a temporary SQLite file with Tripin's pragmas and
// migrates it. River's SQLite driver needs a pool of one connection (its
// documentation says so: River runs operations in parallel and SQLite
// allows one writer).
func openSQLite(ctx context.Context) (backend, error) {
	dir, err := os.MkdirTemp("", "river-bench-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "river.db")
	db, err := sql.Open("sqlite", "file:"+path+"?"+sqlitePragmas)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	db.SetMaxOpenConns(1)
	b := &sqliteBackend{db: db, driver: riversqlite.New(db), dir: dir}
	if err := migrate(ctx, b.driver); err != nil {
		b.close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return b, nil
}

func (b *sqliteBackend) newClient(cfg *river.Config) (riverClient, error) {
	return newAdapter(b.driver, cfg)
}

func (b *sqliteBackend) close() {
	b.db.Close()
	os.RemoveAll(b.dir)
}

// NoopArgs is the benchmark job: it does nothing. Seq identifies a job in
// the latency measurement.
type NoopArgs struct {
	Seq int `json:"seq"`
}

// Kind names the job kind.
func (NoopArgs) Kind() string { return "noop" }

// NoopWorker works NoopArgs jobs, reporting their start to onStart when set.
type NoopWorker struct {
	river.WorkerDefaults[NoopArgs]
	onStart func(seq int, at time.Time)
}

// Work does nothing but report the start.
func (w *NoopWorker) Work(ctx context.Context, job *river.Job[NoopArgs]) error {
	if w.onStart != nil {
		w.onStart(job.Args.Seq, time.Now())
	}
	return nil
}

func clientConfig(o options, maxWorkers int, w *NoopWorker) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	return &river.Config{
		FetchCooldown:     o.fetchCooldown,
		FetchPollInterval: o.fetchPoll,
		Logger:            quietLogger(),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers:           workers,
	}
}

// drainTrial inserts o.jobs jobs into a fresh database with InsertMany, then
// starts one client and times it until every job has been completed (the
// completion events come after River's completer has written them).
func drainTrial(ctx context.Context, open func(context.Context) (backend, error), o options, maxWorkers int) (Trial, error) {
	b, err := open(ctx)
	if err != nil {
		return Trial{}, err
	}
	defer b.close()
	client, err := b.newClient(clientConfig(o, maxWorkers, &NoopWorker{}))
	if err != nil {
		return Trial{}, err
	}
	batch := make([]river.InsertManyParams, 0, o.insertBatch)
	start := time.Now()
	for i := 0; i < o.jobs; i += o.insertBatch {
		batch = batch[:0]
		for j := i; j < min(i+o.insertBatch, o.jobs); j++ {
			batch = append(batch, river.InsertManyParams{Args: NoopArgs{Seq: j}})
		}
		if err := client.InsertMany(ctx, batch); err != nil {
			return Trial{}, fmt.Errorf("insert: %w", err)
		}
	}
	tr := Trial{MaxWorkers: maxWorkers, InsertPerSec: float64(o.jobs) / time.Since(start).Seconds()}

	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: o.jobs + 1000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
	})
	defer cancel()
	start = time.Now()
	if err := client.Start(ctx); err != nil {
		return Trial{}, err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	timeout := time.After(10 * time.Minute)
	for done := 0; done < o.jobs; {
		select {
		case ev := <-events:
			if ev == nil {
				return Trial{}, errors.New("subscription closed")
			}
			if ev.Kind != river.EventKindJobCompleted {
				return Trial{}, fmt.Errorf("job %d failed", ev.Job.ID)
			}
			done++
		case <-timeout:
			return Trial{}, fmt.Errorf("drain timed out after %d jobs", done)
		}
	}
	tr.WorkPerSec = float64(o.jobs) / time.Since(start).Seconds()
	return tr, nil
}

// latencyTrial starts a client whose workers wait idle, then inserts jobs
// one at a time, o.latencyInterval apart, and measures from the moment
// Insert is called to the moment the handler starts.
func latencyTrial(ctx context.Context, open func(context.Context) (backend, error), o options, maxWorkers int) (p50, p99 float64, err error) {
	b, err := open(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer b.close()
	var (
		mu      sync.Mutex
		sent    = make([]time.Time, o.latencyJobs)
		lat     = make([]time.Duration, 0, o.latencyJobs)
		allDone = make(chan struct{})
	)
	w := &NoopWorker{onStart: func(seq int, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, at.Sub(sent[seq]))
		if len(lat) == o.latencyJobs {
			close(allDone)
		}
	}}
	client, err := b.newClient(clientConfig(o, maxWorkers, w))
	if err != nil {
		return 0, 0, err
	}
	if err := client.Start(ctx); err != nil {
		return 0, 0, err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	// Let the client settle (leader election, first fetch) before measuring.
	time.Sleep(time.Second)
	for i := range o.latencyJobs {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if err := client.Insert(ctx, NoopArgs{Seq: i}, nil); err != nil {
			return 0, 0, err
		}
		time.Sleep(o.latencyInterval)
	}
	select {
	case <-allDone:
	case <-time.After(time.Minute):
		return 0, 0, errors.New("not every latency job started within a minute")
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return percentileMS(lat, 50), percentileMS(lat, 99), nil
}

// median returns the median of v (the mean of the middle two for an even
// count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func percentileMS(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}
