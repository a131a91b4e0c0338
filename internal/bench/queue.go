package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/progress"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// QueueResult is the line `bench queue --json` prints. Its first
// fields are the same as those of the River benchmark in bench/river, so
// bench/compare.sh can put the two side by side.
type QueueResult struct {
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
	Concurrency int          `json:"concurrency"`
	Trials      []QueueTrial `json:"trials"`
	// MaxRSSMB is the benchmark process's peak resident memory after the
	// empty-table measurements, in MiB: the worker runs inside it
	// (getrusage of the process, not of a worker process).
	MaxRSSMB float64 `json:"max_rss_mb"`
	// WithBacklog is the drain and latency measured on a database
	// holding a backlog (--backlog, --delayed), when one was asked for,
	// and Baseline the same measurement, made the same way, on an
	// unseeded database: WithBacklog's ratios are to Baseline.
	Baseline    *BacklogResult `json:"baseline,omitempty"`
	WithBacklog *BacklogResult `json:"with_backlog,omitempty"`
}

// BacklogResult is `bench queue --backlog N --delayed M`'s second half:
// the drain and latency of fresh jobs on one database that holds N
// pending jobs on another queue and M delayed ones on theirs, the
// reads the dashboard, /metrics and `queue stats` make there, and their
// ratios to the empty-table figures of the same run.
type BacklogResult struct {
	Backlog     int     `json:"backlog"`
	Delayed     int     `json:"delayed"`
	SeedSeconds float64 `json:"seed_seconds"`
	// WorkPerSec is the median of --runs drains at the empty-table run's
	// best concurrency.
	WorkPerSec        float64 `json:"work_per_sec"`
	LatencyP50MS      float64 `json:"latency_p50_ms"`
	LatencyP99MS      float64 `json:"latency_p99_ms"`
	XProcLatencyP50MS float64 `json:"xproc_latency_p50_ms"`
	XProcLatencyP99MS float64 `json:"xproc_latency_p99_ms"`
	// WorkRatio is WorkPerSec over the empty table's; the latency ratios
	// are the empty table's latency over this one's, so that for every
	// ratio 1 is as good as empty and lower is worse.
	WorkRatio float64 `json:"work_ratio"`
	P50Ratio  float64 `json:"p50_ratio"`
	P99Ratio  float64 `json:"p99_ratio"`
	// StatsMS is one QueueStats read as the dashboard, /metrics and
	// `queue stats` make it (counts stop at driver.DefaultCountLimit);
	// StatsExactMS counts every row (`queue stats --exact`, and what every
	// read cost before the limit). JobListMS is the first page of pending
	// jobs across queues (/admin/jobs); each is the median of 5 reads.
	StatsMS      float64 `json:"stats_ms"`
	StatsExactMS float64 `json:"stats_exact_ms"`
	JobListMS    float64 `json:"job_list_ms"`
	// MaxRSSMB is the process's peak resident memory at the end, in MiB.
	MaxRSSMB float64 `json:"max_rss_mb"`
}

// QueueTrial is one insert-and-drain at one concurrency.
type QueueTrial struct {
	Concurrency  int     `json:"concurrency"`
	InsertPerSec float64 `json:"insert_per_sec"`
	WorkPerSec   float64 `json:"work_per_sec"`
}

// QueueOptions configure `bench queue`.
type QueueOptions struct {
	// Backend is the SQL database's dialect; SQLite for the redis
	// backend, whose SQL side (failed jobs, the worker registry) is a
	// temporary SQLite database while the jobs live in Redis.
	Backend store.Dialect
	// RedisURL is set for the redis backend: the server the jobs go to,
	// under a key prefix of each measurement's own.
	RedisURL string
	// DSN is the MySQL or PostgreSQL server the measurements create their
	// databases on; for SQLite and Redis, the directory of the temporary
	// SQLite files ("" for the system's).
	DSN string
	// Jobs are inserted and drained by each run, InsertBatch per
	// InsertMany call, Runs times at each of the Concurrency settings.
	Jobs        int
	InsertBatch int
	Concurrency []int
	Runs        int
	// LatencyJobs are inserted one at a time, LatencyInterval apart, for
	// each latency measurement (0: none).
	LatencyJobs     int
	LatencyInterval time.Duration
	// CPUProfile, when set, is the file the CPU profile of the first drain
	// goes to.
	CPUProfile string
	// Stats prints the driver calls of each drain on stderr.
	Stats bool
	// Ops is the operations layer around the drain's worker: "none" (or
	// empty), "metrics" (per-minute metrics, as `queue work` runs) or
	// "keep" (metrics and completed jobs kept, QUEUE_KEEP_COMPLETED). Its
	// last flush is inside the measured drain.
	Ops string
	// Backlog and Delayed, when either is set, add a second measurement
	// on a database first seeded with Backlog pending jobs on another
	// queue and Delayed jobs due in an hour on the measured queue.
	Backlog int
	Delayed int
	// Keep leaves the seeded backlog database in place (its DSN is
	// printed on stderr), to look at afterwards: EXPLAIN, the dashboard.
	Keep bool
	// JSON prints the result as one JSON line.
	JSON bool
	// Progress, when set, is told of each drain as it ends.
	Progress *progress.Meter
}

// Queue inserts and drains o.Jobs jobs o.Runs times at each concurrency,
// measures the enqueue-to-start latency at the best one and prints the
// result on stdout.
func Queue(ctx context.Context, o QueueOptions, stdout, stderr io.Writer) error {
	res := QueueResult{Engine: "tripin", Backend: o.name(), Jobs: o.Jobs}
	// Runs alternate between the settings so that a noisy moment on a
	// shared machine hits them alike; each setting scores the median of
	// its runs.
	for run := range o.Runs {
		for i, c := range o.Concurrency {
			start := time.Now()
			tr, err := queueDrain(ctx, stderr, o, c, run == 0 && i == 0 && o.CPUProfile != "", nil)
			if o.Progress != nil {
				o.Progress.Report(fmt.Sprintf("run %d, concurrency %d", run+1, c), int64(o.Jobs), time.Since(start), err)
			}
			if err != nil {
				return fmt.Errorf("bench queue: concurrency %d: %w", c, err)
			}
			res.Trials = append(res.Trials, tr)
			if !o.JSON {
				fmt.Fprintf(stdout, "tripin %s concurrency=%d: insert %.0f/s, work %.0f/s\n", o.name(), c, tr.InsertPerSec, tr.WorkPerSec)
			}
		}
	}
	for _, c := range o.Concurrency {
		var inserts, works []float64
		for _, tr := range res.Trials {
			if tr.Concurrency == c {
				inserts, works = append(inserts, tr.InsertPerSec), append(works, tr.WorkPerSec)
			}
		}
		res.InsertPerSec = max(res.InsertPerSec, median(inserts))
		if w := median(works); w > res.WorkPerSec {
			res.WorkPerSec, res.Concurrency = w, c
		}
	}
	if o.LatencyJobs > 0 {
		if err := queueLatency(ctx, o, res.Concurrency, &res, nil); err != nil {
			return fmt.Errorf("bench queue: latency: %w", err)
		}
	}
	res.MaxRSSMB = maxRSSMB()
	if o.Backlog+o.Delayed > 0 {
		base, err := queueBacklog(ctx, stdout, stderr, o, res.Concurrency, false)
		if err != nil {
			return fmt.Errorf("bench queue: baseline: %w", err)
		}
		b, err := queueBacklog(ctx, stdout, stderr, o, res.Concurrency, true)
		if err != nil {
			return fmt.Errorf("bench queue: with a backlog: %w", err)
		}
		b.setRatios(base)
		res.Baseline, res.WithBacklog = base, b
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(&res)
	}
	fmt.Fprintf(stdout, "tripin %s: jobs=%d insert_per_sec=%.0f work_per_sec=%.0f (concurrency=%d) latency p50=%.2fms p99=%.2fms, from another client p50=%.2fms p99=%.2fms max_rss=%.0fMiB\n",
		res.Backend, res.Jobs, res.InsertPerSec, res.WorkPerSec, res.Concurrency,
		res.LatencyP50MS, res.LatencyP99MS, res.XProcLatencyP50MS, res.XProcLatencyP99MS, res.MaxRSSMB)
	if b, base := res.WithBacklog, res.Baseline; b != nil {
		fmt.Fprintf(stdout, "\n%-22s %12s %12s %12s %12s %10s %10s %10s\n", "tripin "+res.Backend, "work/s", "p50 ms", "p99 ms", "max RSS MiB", "stats ms", "exact ms", "list ms")
		row := func(name string, r *BacklogResult) {
			fmt.Fprintf(stdout, "%-22s %12.0f %12.2f %12.2f %12.0f %10.1f %10.1f %10.1f\n", name,
				r.WorkPerSec, r.LatencyP50MS, r.LatencyP99MS, r.MaxRSSMB, r.StatsMS, r.StatsExactMS, r.JobListMS)
		}
		row("empty table", base)
		row(fmt.Sprintf("%d+%d backlog", b.Backlog, b.Delayed), b)
		fmt.Fprintf(stdout, "%-22s %12.2f %12.2f %12.2f   (backlog / empty; for latency empty / backlog: 1 is as fast, lower is worse)\n", "ratio", b.WorkRatio, b.P50Ratio, b.P99Ratio)
	}
	return nil
}

// name is the backend's name as the results give it.
func (o *QueueOptions) name() string {
	if o.RedisURL != "" {
		return "redis"
	}
	return string(o.Backend)
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
	// seededUpTo is the highest job id of the seeded backlog (0 when
	// none): every job a drain inserts has a higher one.
	seededUpTo int64
}

// openBenchDB creates a database for one measurement: a temporary SQLite
// file, or tripin_bench_<random> on the server of o.DSN; for the redis
// backend, a temporary SQLite file and a random Redis key prefix.
func openBenchDB(ctx context.Context, o QueueOptions) (*benchDB, error) {
	db, dsn, drop, err := freshDB(ctx, o.Backend, o.DSN, 0)
	if err != nil {
		return nil, err
	}
	bdb := &benchDB{db: db, dsn: dsn, drop: drop}
	if o.RedisURL != "" {
		bdb.redisPrefix = benchRedisPrefix()
		bdb.drop = func() { deleteBenchRedisKeys(o.RedisURL, bdb.redisPrefix); drop() }
	}
	return bdb, nil
}

// newBenchDriver returns the queue driver of one client of bdb: the SQL
// driver of db (bdb.db or a second pool on the same database), or for the
// redis backend a Redis driver under bdb's prefix on a Redis client of its
// own, standing on db. Call closeDriver after the client has stopped.
func newBenchDriver(ctx context.Context, o QueueOptions, bdb *benchDB, db *store.DB) (d driver.Driver, closeDriver func(), err error) {
	if o.RedisURL != "" {
		return newBenchRedisDriver(ctx, o.RedisURL, bdb.redisPrefix, db)
	}
	d, err = app.QueueDriver(ctx, db)
	return d, func() {}, err
}

func newBenchClient(ctx context.Context, o QueueOptions, bdb *benchDB, db *store.DB, onStart func(int, time.Time)) (*queue.Client, func(), error) {
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

// benchQueueDrain inserts o.Jobs jobs into a fresh database with InsertMany,
// then runs one worker (the engine `queue work` runs) until every job has
// been worked and its completion written.
//
// On a shared database (seeded, a backlog run) the jobs go in beside
// those already there, and the drain ends when the table holds just
// those again.
func queueDrain(ctx context.Context, stderr io.Writer, o QueueOptions, concurrency int, profile bool, shared *benchDB) (QueueTrial, error) {
	tr := QueueTrial{Concurrency: concurrency}
	bdb, left := shared, 0
	if bdb == nil {
		var err error
		if bdb, err = openBenchDB(ctx, o); err != nil {
			return tr, err
		}
		defer bdb.drop()
	} else {
		left = o.Backlog + o.Delayed
	}

	var worked atomic.Int64
	allWorked := make(chan struct{})
	base, closeDriver, err := newBenchDriver(ctx, o, bdb, bdb.db)
	if err != nil {
		return tr, err
	}
	defer closeDriver()
	d := base
	var stats *driverStats
	if o.Stats {
		stats = &driverStats{}
		d = stats.wrap(d)
	}
	var ops *queue.Ops
	if o.Ops == "metrics" || o.Ops == "keep" {
		if ops, err = queue.NewOps(base, &queue.OpsConfig{KeepCompleted: o.Ops == "keep"}); err != nil {
			return tr, err
		}
		d = queue.WithHooks(d, ops)
	}
	client, err := newBenchClientOn(d, func(int, time.Time) {
		if worked.Add(1) == int64(o.Jobs) {
			close(allWorked)
		}
	})
	if err != nil {
		return tr, err
	}

	batch := make([]queue.InsertManyParams, 0, o.InsertBatch)
	start := time.Now()
	for i := 0; i < o.Jobs; i += o.InsertBatch {
		batch = batch[:0]
		for j := i; j < min(i+o.InsertBatch, o.Jobs); j++ {
			batch = append(batch, queue.InsertManyParams{Args: benchJob{Seq: j}})
		}
		if _, err := client.InsertMany(ctx, batch); err != nil {
			return tr, err
		}
	}
	tr.InsertPerSec = float64(o.Jobs) / time.Since(start).Seconds()

	if profile {
		f, err := os.Create(o.CPUProfile)
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
	tr.WorkPerSec = float64(o.Jobs) / elapsed.Seconds()
	if stats != nil {
		fmt.Fprintf(stderr, "%s concurrency %d: drain %s: %s\n", o.name(), concurrency, elapsed.Round(time.Millisecond), stats)
	}
	if o.RedisURL != "" {
		return tr, checkDrainedRedis(ctx, base, o.RedisURL, left)
	}
	if bdb.seededUpTo > 0 {
		// Only the jobs this drain inserted are counted here, by their
		// ids: counting the seeded millions after every run would take
		// seconds and push the drain's pages out of the database's
		// cache before the next run. queueBacklog counts the whole
		// table once, after its last run.
		return tr, checkDrainedAbove(ctx, bdb.db, bdb.seededUpTo)
	}
	return tr, checkDrained(ctx, bdb.db, left)
}

// checkDrained fails unless the jobs table holds left jobs and
// failed_jobs none.
func checkDrained(ctx context.Context, db *store.DB, want int) error {
	return checkJobsLeft(ctx, db, "SELECT COUNT(*) FROM jobs", want)
}

// checkDrainedAbove fails unless no job with an id above seededUpTo is
// left and failed_jobs holds none.
func checkDrainedAbove(ctx context.Context, db *store.DB, seededUpTo int64) error {
	return checkJobsLeft(ctx, db, "SELECT COUNT(*) FROM jobs WHERE id > "+strconv.FormatInt(seededUpTo, 10), 0)
}

func checkJobsLeft(ctx context.Context, db *store.DB, count string, want int) error {
	var left, failed int
	if err := db.QueryRowContext(ctx, count).Scan(&left); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM failed_jobs").Scan(&failed); err != nil {
		return err
	}
	if left != want || failed != 0 {
		return fmt.Errorf("after the drain %d jobs are left (want %d) and %d failed", left, want, failed)
	}
	return nil
}

// queueLatency starts a worker that waits idle, then inserts jobs one
// at a time, o.LatencyInterval apart, and measures from the call to Insert
// to the start of the handler: first through the worker's own client, then
// through a second client with its own pool.
func queueLatency(ctx context.Context, o QueueOptions, concurrency int, res *QueueResult, shared *benchDB) error {
	bdb := shared
	if bdb == nil {
		var err error
		if bdb, err = openBenchDB(ctx, o); err != nil {
			return err
		}
		defer bdb.drop()
	}
	var (
		mu   sync.Mutex
		sent = make([]time.Time, 2*o.LatencyJobs)
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
	other, err := store.Open(ctx, store.OpenParams{Dialect: o.Backend, DSN: bdb.dsn})
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
		for i := range o.LatencyJobs {
			mu.Lock()
			sent[first+i] = time.Now()
			mu.Unlock()
			if _, err := c.Insert(ctx, benchJob{Seq: first + i}, nil); err != nil {
				return 0, 0, err
			}
			time.Sleep(o.LatencyInterval)
		}
		deadline := time.After(time.Minute)
		for {
			mu.Lock()
			n := len(lat)
			mu.Unlock()
			if n >= o.LatencyJobs {
				break
			}
			select {
			case <-got:
			case <-deadline:
				return 0, 0, fmt.Errorf("only %d of %d jobs started within a minute", n, o.LatencyJobs)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(lat)
		return percentileMS(lat, 50), percentileMS(lat, 99), nil
	}
	if res.LatencyP50MS, res.LatencyP99MS, err = measure(client, 0); err != nil {
		return err
	}
	res.XProcLatencyP50MS, res.XProcLatencyP99MS, err = measure(inserter, o.LatencyJobs)
	return err
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
