package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

func init() {
	register(&Command{
		Name: "bench queue", Aliases: []string{"bench:queue"},
		Usage: "--backend sqlite|mysql|pgsql|redis [--dsn DSN] [--redis-url URL] [--jobs N] [--concurrency N[,N…]] [--runs N] [--insert-batch N]\n" +
			"       [--latency-jobs N] [--latency-interval D] [--stats] [--cpuprofile FILE] [--json]",
		Summary: "measure the queue: inserts/s, no-op jobs worked/s and enqueue-to-start latency, on a fresh database",
		Run:     runBenchQueue,
	})
}

// The server DSNs the benchmark uses when --dsn is not given: the test
// servers' environment variables, then the local defaults.
const (
	benchMySQLDSN = "root@tcp(127.0.0.1:3306)/test"
	benchPgSQLDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// benchQueueResult is the line `bench queue --json` prints. Its first
// fields are the same as those of the River benchmark in bench/river, so
// bench/compare.sh can put the two side by side.
type benchQueueResult struct {
	Engine       string  `json:"engine"`
	Backend      string  `json:"backend"`
	Jobs         int     `json:"jobs"`
	InsertPerSec float64 `json:"insert_per_sec"`
	WorkPerSec   float64 `json:"work_per_sec"`
	// LatencyP50MS and LatencyP99MS measure jobs inserted by the worker's
	// own process (the web process embedding a worker, or `serve`).
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	// The XProc latencies measure jobs inserted through a second client
	// with its own connection pool, which the worker learns about only
	// through the database (LISTEN/NOTIFY or polling), as a separate
	// `queue work` process would.
	XProcLatencyP50MS float64 `json:"xproc_latency_p50_ms"`
	XProcLatencyP99MS float64 `json:"xproc_latency_p99_ms"`
	// Concurrency is the setting with the best median work_per_sec;
	// InsertPerSec and WorkPerSec are medians over its runs.
	Concurrency int               `json:"concurrency"`
	Trials      []benchQueueTrial `json:"trials"`
}

// benchQueueTrial is one insert-and-drain at one concurrency.
type benchQueueTrial struct {
	Concurrency  int     `json:"concurrency"`
	InsertPerSec float64 `json:"insert_per_sec"`
	WorkPerSec   float64 `json:"work_per_sec"`
}

type benchQueueOptions struct {
	// backend is the SQL database's dialect; SQLite for the redis
	// backend, whose SQL side (failed jobs, the worker registry) is a
	// temporary SQLite database while the jobs live in Redis.
	backend store.Dialect
	// redisURL is set for the redis backend: the server the jobs go to,
	// under a key prefix of each measurement's own.
	redisURL        string
	dsn             string
	jobs            int
	concurrency     []int
	insertBatch     int
	latencyJobs     int
	latencyInterval time.Duration
	cpuProfile      string
	stats           bool
	runs            int
	// ops is the operations layer around the drain's worker: "none",
	// "metrics" (per-minute metrics, as `queue work` runs) or "keep"
	// (metrics and completed jobs kept, QUEUE_KEEP_COMPLETED).
	ops string
}

func runBenchQueue(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench queue")
	var (
		o           benchQueueOptions
		backend     string
		concurrency string
	)
	fs.StringVar(&backend, "backend", "sqlite", "sqlite, mysql, pgsql or redis")
	fs.StringVar(&o.dsn, "dsn", "", "server DSN (a fresh database is created on its server and dropped after); for sqlite and redis, a directory for the temporary SQLite file")
	fs.StringVar(&o.redisURL, "redis-url", "", "for redis, the server (default REDIS_URL, else "+benchRedisURL+"); the jobs go under a random key prefix deleted after")
	fs.IntVar(&o.jobs, "jobs", 20000, "jobs to insert and drain")
	fs.StringVar(&concurrency, "concurrency", "", "worker concurrency, or a comma-separated list to try (default 100,1000: both are tried and the best reported)")
	fs.IntVar(&o.insertBatch, "insert-batch", 1000, "jobs per InsertMany call")
	fs.IntVar(&o.runs, "runs", 3, "drains per concurrency setting; the median counts")
	fs.IntVar(&o.latencyJobs, "latency-jobs", 500, "jobs inserted one at a time for each latency measurement")
	fs.DurationVar(&o.latencyInterval, "latency-interval", 10*time.Millisecond, "pause between latency inserts")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the first drain to this file")
	fs.BoolVar(&o.stats, "stats", false, "print the driver calls of each drain (count, rows, time) on stderr")
	fs.StringVar(&o.ops, "ops", "none", "the worker's operations layer: none, metrics (as queue work runs it) or keep (metrics and completed jobs kept); its last flush is inside the measured drain")
	asJSON := fs.Bool("json", false, "print one JSON line")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch o.ops {
	case "none", "metrics", "keep":
	default:
		return usagef("bench queue: --ops must be none, metrics or keep")
	}
	if backend != "redis" && o.redisURL != "" {
		return usagef("bench queue: --redis-url is for --backend redis")
	}
	o.backend = store.Dialect(backend)
	switch o.backend {
	case "redis":
		o.backend = store.SQLite
		o.redisURL = benchRedisURLFor(env, o.redisURL)
	case store.SQLite:
	case store.MySQL:
		o.dsn = firstNonEmpty(o.dsn, os.Getenv("TRIPIN_TEST_MYSQL_DSN"), benchMySQLDSN)
	case store.PgSQL:
		o.dsn = firstNonEmpty(o.dsn, os.Getenv("TRIPIN_TEST_PGSQL_DSN"), benchPgSQLDSN)
	default:
		return usagef("bench queue: --backend must be sqlite, mysql, pgsql or redis, not %q", backend)
	}
	if concurrency == "" {
		concurrency = "100,1000"
	}
	for _, s := range strings.Split(concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return usagef("bench queue: --concurrency: bad value %q", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if o.jobs < 1 || o.insertBatch < 1 || o.runs < 1 || o.latencyJobs < 0 {
		return usagef("bench queue: --jobs, --insert-batch and --runs must be positive")
	}

	res := benchQueueResult{Engine: "tripin", Backend: o.name(), Jobs: o.jobs}
	// Runs alternate between the settings so that a noisy moment on a
	// shared machine hits them alike; each setting scores the median of
	// its runs.
	for run := range o.runs {
		for i, c := range o.concurrency {
			tr, err := benchQueueDrain(ctx, env, o, c, run == 0 && i == 0 && o.cpuProfile != "")
			if err != nil {
				return fmt.Errorf("bench queue: concurrency %d: %w", c, err)
			}
			res.Trials = append(res.Trials, tr)
			if !*asJSON {
				fmt.Fprintf(env.Stdout, "tripin %s concurrency=%d: insert %.0f/s, work %.0f/s\n", o.name(), c, tr.InsertPerSec, tr.WorkPerSec)
			}
		}
	}
	for _, c := range o.concurrency {
		var inserts, works []float64
		for _, tr := range res.Trials {
			if tr.Concurrency == c {
				inserts, works = append(inserts, tr.InsertPerSec), append(works, tr.WorkPerSec)
			}
		}
		res.InsertPerSec = max(res.InsertPerSec, benchMedian(inserts))
		if w := benchMedian(works); w > res.WorkPerSec {
			res.WorkPerSec, res.Concurrency = w, c
		}
	}
	if o.latencyJobs > 0 {
		if err := benchQueueLatency(ctx, o, res.Concurrency, &res); err != nil {
			return fmt.Errorf("bench queue: latency: %w", err)
		}
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(&res)
	}
	fmt.Fprintf(env.Stdout, "tripin %s: jobs=%d insert_per_sec=%.0f work_per_sec=%.0f (concurrency=%d) latency p50=%.2fms p99=%.2fms, from another client p50=%.2fms p99=%.2fms\n",
		res.Backend, res.Jobs, res.InsertPerSec, res.WorkPerSec, res.Concurrency,
		res.LatencyP50MS, res.LatencyP99MS, res.XProcLatencyP50MS, res.XProcLatencyP99MS)
	return nil
}

// name is the backend's name as the results give it.
func (o *benchQueueOptions) name() string {
	if o.redisURL != "" {
		return "redis"
	}
	return string(o.backend)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// benchJob is the benchmark's no-op job. Seq identifies it in the latency
// measurement; River's benchmark job carries the same field.
type benchJob struct {
	Seq int `json:"seq"`
}

// Kind returns the kind name.
func (benchJob) Kind() string { return "bench_noop" }

// benchWorker works benchJob, reporting each start to onStart.
type benchWorker struct {
	onStart func(seq int, at time.Time)
}

func (w *benchWorker) Work(ctx context.Context, job *queue.Job[benchJob]) error {
	w.onStart(job.Args.Seq, time.Now())
	return nil
}

// benchDB is a fresh, migrated database that drop removes; for the redis
// backend, with the Redis key prefix of the measurement, whose keys drop
// deletes too.
type benchDB struct {
	db          *store.DB
	dsn         string
	redisPrefix string
	drop        func()
}

// openBenchDB creates a database for one measurement: a temporary SQLite
// file, or tripin_bench_<random> on the server of o.dsn; for the redis
// backend, a temporary SQLite file and a random Redis key prefix.
func openBenchDB(ctx context.Context, o benchQueueOptions) (*benchDB, error) {
	name := fmt.Sprintf("tripin_bench_%d", rand.Uint32())
	var (
		dsn  string
		drop func()
	)
	switch o.backend {
	case store.SQLite:
		dir, err := os.MkdirTemp(o.dsn, "tripin-bench-")
		if err != nil {
			return nil, err
		}
		dsn = filepath.Join(dir, "tripin.db")
		drop = func() { os.RemoveAll(dir) }
	default:
		admin, err := store.Open(ctx, store.OpenParams{Dialect: o.backend, DSN: o.dsn, MaxOpenConns: 1})
		if err != nil {
			return nil, err
		}
		defer admin.Close()
		create := "CREATE DATABASE " + name
		if o.backend == store.MySQL {
			create += " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
		}
		if _, err := admin.ExecContext(ctx, create); err != nil {
			return nil, fmt.Errorf("create database: %w", err)
		}
		drop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admin, err := store.Open(ctx, store.OpenParams{Dialect: o.backend, DSN: o.dsn, MaxOpenConns: 1})
			if err != nil {
				return
			}
			defer admin.Close()
			q := "DROP DATABASE IF EXISTS " + name
			if o.backend == store.PgSQL {
				q += " WITH (FORCE)"
			}
			_, _ = admin.ExecContext(ctx, q)
		}
		if dsn, err = withDatabase(o.backend, o.dsn, name); err != nil {
			drop()
			return nil, err
		}
	}
	db, err := store.Open(ctx, store.OpenParams{Dialect: o.backend, DSN: dsn})
	if err != nil {
		drop()
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		drop()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	bdb := &benchDB{db: db, dsn: dsn, drop: func() { db.Close(); drop() }}
	if o.redisURL != "" {
		bdb.redisPrefix = benchRedisPrefix()
		bdb.drop = func() { deleteBenchRedisKeys(o.redisURL, bdb.redisPrefix); db.Close(); drop() }
	}
	return bdb, nil
}

// withDatabase returns dsn pointed at database name instead.
func withDatabase(d store.Dialect, dsn, name string) (string, error) {
	if i := strings.Index(dsn, "://"); i > 0 {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("the DSN is not a valid URL")
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	if d == store.MySQL {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", fmt.Errorf("invalid DSN: %w", store.RedactError(err, dsn))
		}
		cfg.DBName = name
		return cfg.FormatDSN(), nil
	}
	var parts []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "dbname=") {
			parts = append(parts, f)
		}
	}
	return strings.Join(append(parts, "dbname="+name), " "), nil
}

// newBenchDriver returns the queue driver of one client of bdb: the SQL
// driver of db (bdb.db or a second pool on the same database), or for the
// redis backend a Redis driver under bdb's prefix on a Redis client of its
// own, standing on db. Call closeDriver after the client has stopped.
func newBenchDriver(ctx context.Context, o benchQueueOptions, bdb *benchDB, db *store.DB) (d driver.Driver, closeDriver func(), err error) {
	if o.redisURL != "" {
		return newBenchRedisDriver(ctx, o.redisURL, bdb.redisPrefix, db)
	}
	d, err = app.QueueDriver(ctx, db)
	return d, func() {}, err
}

func newBenchClient(ctx context.Context, o benchQueueOptions, bdb *benchDB, db *store.DB, onStart func(int, time.Time)) (*queue.Client, func(), error) {
	d, closeDriver, err := newBenchDriver(ctx, o, bdb, db)
	if err != nil {
		return nil, nil, err
	}
	c, err := newBenchClientOn(d, onStart)
	if err != nil {
		closeDriver()
		return nil, nil, err
	}
	return c, closeDriver, nil
}

func newBenchClientOn(d driver.Driver, onStart func(int, time.Time)) (*queue.Client, error) {
	ws := queue.NewWorkers()
	queue.AddWorker[benchJob](ws, &benchWorker{onStart: onStart})
	return queue.NewClient(d, &queue.Config{Workers: ws})
}

// benchQueueDrain inserts o.jobs jobs into a fresh database with InsertMany,
// then runs one worker (the engine `queue work` runs) until every job has
// been worked and its completion written.
func benchQueueDrain(ctx context.Context, env *Env, o benchQueueOptions, concurrency int, profile bool) (benchQueueTrial, error) {
	tr := benchQueueTrial{Concurrency: concurrency}
	bdb, err := openBenchDB(ctx, o)
	if err != nil {
		return tr, err
	}
	defer bdb.drop()

	var worked atomic.Int64
	allWorked := make(chan struct{})
	base, closeDriver, err := newBenchDriver(ctx, o, bdb, bdb.db)
	if err != nil {
		return tr, err
	}
	defer closeDriver()
	d := base
	var stats *driverStats
	if o.stats {
		stats = &driverStats{}
		d = stats.wrap(d)
	}
	var ops *queue.Ops
	if o.ops == "metrics" || o.ops == "keep" {
		if ops, err = queue.NewOps(base, &queue.OpsConfig{KeepCompleted: o.ops == "keep"}); err != nil {
			return tr, err
		}
		d = queue.WithHooks(d, ops)
	}
	client, err := newBenchClientOn(d, func(int, time.Time) {
		if worked.Add(1) == int64(o.jobs) {
			close(allWorked)
		}
	})
	if err != nil {
		return tr, err
	}

	batch := make([]queue.InsertManyParams, 0, o.insertBatch)
	start := time.Now()
	for i := 0; i < o.jobs; i += o.insertBatch {
		batch = batch[:0]
		for j := i; j < min(i+o.insertBatch, o.jobs); j++ {
			batch = append(batch, queue.InsertManyParams{Args: benchJob{Seq: j}})
		}
		if _, err := client.InsertMany(ctx, batch); err != nil {
			return tr, err
		}
	}
	tr.InsertPerSec = float64(o.jobs) / time.Since(start).Seconds()

	if profile {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return tr, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return tr, err
		}
		defer pprof.StopCPUProfile()
	}
	start = time.Now()
	if err := client.Start(ctx, queue.WorkParams{Concurrency: concurrency}); err != nil {
		return tr, err
	}
	select {
	case <-allWorked:
	case <-time.After(10 * time.Minute):
		_ = client.Stop(context.WithoutCancel(ctx))
		return tr, fmt.Errorf("drain timed out after %d jobs", worked.Load())
	case <-ctx.Done():
		_ = client.Stop(context.WithoutCancel(ctx))
		return tr, ctx.Err()
	}
	// Stop writes the completions still batched in the completer: the
	// clock stops when every job is gone from the jobs table.
	if err := client.Stop(context.WithoutCancel(ctx)); err != nil {
		return tr, err
	}
	if ops != nil {
		// The metrics and completed jobs still in memory are written
		// now: their cost is part of the drain.
		if err := ops.Close(context.WithoutCancel(ctx)); err != nil {
			return tr, err
		}
	}
	elapsed := time.Since(start)
	tr.WorkPerSec = float64(o.jobs) / elapsed.Seconds()
	if stats != nil {
		fmt.Fprintf(env.Stderr, "%s concurrency %d: drain %s: %s\n", o.name(), concurrency, elapsed.Round(time.Millisecond), stats)
	}
	if o.redisURL != "" {
		return tr, checkDrainedRedis(ctx, base, o.redisURL)
	}
	return tr, checkDrained(ctx, bdb.db)
}

// checkDrained fails unless the jobs and failed_jobs tables are empty.
func checkDrained(ctx context.Context, db *store.DB) error {
	var left, failed int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs").Scan(&left); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM failed_jobs").Scan(&failed); err != nil {
		return err
	}
	if left != 0 || failed != 0 {
		return fmt.Errorf("after the drain %d jobs are left and %d failed", left, failed)
	}
	return nil
}

// benchQueueLatency starts a worker that waits idle, then inserts jobs one
// at a time, o.latencyInterval apart, and measures from the call to Insert
// to the start of the handler: first through the worker's own client, then
// through a second client with its own pool.
func benchQueueLatency(ctx context.Context, o benchQueueOptions, concurrency int, res *benchQueueResult) error {
	bdb, err := openBenchDB(ctx, o)
	if err != nil {
		return err
	}
	defer bdb.drop()
	var (
		mu   sync.Mutex
		sent = make([]time.Time, 2*o.latencyJobs)
		lat  []time.Duration
		got  = make(chan struct{}, 1)
	)
	client, closeDriver, err := newBenchClient(ctx, o, bdb, bdb.db, func(seq int, at time.Time) {
		mu.Lock()
		lat = append(lat, at.Sub(sent[seq]))
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer closeDriver()
	if err := client.Start(ctx, queue.WorkParams{Concurrency: concurrency}); err != nil {
		return err
	}
	defer client.Stop(context.WithoutCancel(ctx))

	// The other client has its own connection pool (and for redis its own
	// Redis client and driver), as another process would.
	other, err := store.Open(ctx, store.OpenParams{Dialect: o.backend, DSN: bdb.dsn})
	if err != nil {
		return err
	}
	defer other.Close()
	inserter, closeOther, err := newBenchClient(ctx, o, bdb, other, func(int, time.Time) {})
	if err != nil {
		return err
	}
	defer closeOther()

	measure := func(c *queue.Client, first int) (p50, p99 float64, err error) {
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		// Let the worker settle into its idle wait before measuring.
		time.Sleep(time.Second)
		for i := range o.latencyJobs {
			mu.Lock()
			sent[first+i] = time.Now()
			mu.Unlock()
			if _, err := c.Insert(ctx, benchJob{Seq: first + i}, nil); err != nil {
				return 0, 0, err
			}
			time.Sleep(o.latencyInterval)
		}
		deadline := time.After(time.Minute)
		for {
			mu.Lock()
			n := len(lat)
			mu.Unlock()
			if n >= o.latencyJobs {
				break
			}
			select {
			case <-got:
			case <-deadline:
				return 0, 0, fmt.Errorf("only %d of %d jobs started within a minute", n, o.latencyJobs)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(lat)
		return benchPercentileMS(lat, 50), benchPercentileMS(lat, 99), nil
	}
	if res.LatencyP50MS, res.LatencyP99MS, err = measure(client, 0); err != nil {
		return err
	}
	res.XProcLatencyP50MS, res.XProcLatencyP99MS, err = measure(inserter, o.latencyJobs)
	return err
}

// benchMedian returns the median of v (the mean of the middle two for an
// even count).
func benchMedian(v []float64) float64 {
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

// benchPercentileMS returns the p-th percentile of sorted durations in
// milliseconds (nearest rank).
func benchPercentileMS(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

// driverStats counts the claim and complete calls a drain makes, to show
// where a worker's time goes (--stats).
type driverStats struct {
	claims, claimRows, claimNanos          atomic.Int64
	completes, completeRows, completeNanos atomic.Int64
}

func (s *driverStats) String() string {
	per := func(n, d int64) float64 {
		if d == 0 {
			return 0
		}
		return float64(n) / float64(d)
	}
	return fmt.Sprintf("JobClaim %d calls, %.1f rows/call, %.2f ms/call; JobCompleteMany %d calls, %.1f ids/call, %.2f ms/call",
		s.claims.Load(), per(s.claimRows.Load(), s.claims.Load()), per(s.claimNanos.Load(), s.claims.Load())/1e6,
		s.completes.Load(), per(s.completeRows.Load(), s.completes.Load()), per(s.completeNanos.Load(), s.completes.Load())/1e6)
}

// wrap returns d with its claims and completions counted, keeping its
// Listener capability.
func (s *driverStats) wrap(d driver.Driver) driver.Driver {
	sd := &statsDriver{Driver: d, s: s}
	if l, ok := d.(driver.Listener); ok {
		return &statsListenerDriver{statsDriver: sd, l: l}
	}
	return sd
}

type statsDriver struct {
	driver.Driver
	s *driverStats
}

func (d *statsDriver) JobClaim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, error) {
	start := time.Now()
	rows, err := d.Driver.JobClaim(ctx, p)
	d.s.claims.Add(1)
	d.s.claimRows.Add(int64(len(rows)))
	d.s.claimNanos.Add(int64(time.Since(start)))
	return rows, err
}

func (d *statsDriver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	start := time.Now()
	stale, err := d.Driver.JobCompleteMany(ctx, p)
	d.s.completes.Add(1)
	d.s.completeRows.Add(int64(len(p.Jobs)))
	d.s.completeNanos.Add(int64(time.Since(start)))
	return stale, err
}

type statsListenerDriver struct {
	*statsDriver
	l driver.Listener
}

func (d *statsListenerDriver) Listen(ctx context.Context, fn func(queue string)) error {
	return d.l.Listen(ctx, fn)
}
