package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/progress"
	"github.com/tripintravel/tripin/internal/retention"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
)

// PrunePhase is the booking load of one phase.
type PrunePhase struct {
	Phase       string  `json:"phase"`
	DurationS   float64 `json:"duration_s"`
	Bookings    int     `json:"bookings"`
	Errors      int     `json:"errors"`
	BookingsSec float64 `json:"bookings_per_sec"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
}

// PruneResult is the one JSON line the benchmark prints.
type PruneResult struct {
	Backend     string  `json:"backend"`
	Rows        int     `json:"rows_per_table"`
	Chunk       int     `json:"chunk"`
	Concurrency int     `json:"concurrency"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	LoadAvg     string  `json:"load_avg,omitempty"`
	SeedS       float64 `json:"seed_s"`
	// PruneS is how long the prune took with the booking load beside it;
	// PrunedRows how many rows it deleted (every old row of both tables).
	PruneS     float64            `json:"prune_s"`
	PrunedRows int64              `json:"pruned_rows"`
	RowsPerSec float64            `json:"pruned_rows_per_sec"`
	Tables     []retention.Result `json:"tables"`
	Phases     []PrunePhase       `json:"phases"`
	// WALMaxMB is the largest the SQLite write-ahead log grew during the
	// prune (from empty), sampled every 100 ms.
	WALMaxMB    float64 `json:"wal_max_mb,omitempty"`
	KeptOK      bool    `json:"kept_ok"`
	InvariantOK bool    `json:"invariant_ok"`
}

// PruneOptions configure `bench prune`.
type PruneOptions struct {
	// Backend is the database; DSN, for MySQL and PostgreSQL, the server
	// to create the benchmark's database on (empty: the local default).
	Backend store.Dialect
	DSN     string
	// Rows old rows are seeded in job_metrics and in completed_jobs each,
	// and pruned Chunk rows per DELETE.
	Rows  int
	Chunk int
	// Concurrency clients book before, during and after the prune; the
	// phases without the prune last Duration.
	Concurrency int
	Duration    time.Duration
	// JSON prints the result as one JSON line.
	JSON bool
	// Progress, when set, is told of the seeding and of each table's
	// prune as it ends.
	Progress *progress.Meter
}

// Prune times the retention prune of o.Rows old rows in each of
// job_metrics and completed_jobs, with bookings beside it, and prints the
// result on stdout.
func Prune(ctx context.Context, o PruneOptions, stdout io.Writer) error {
	d := o.Backend
	db, cleanup, err := openBookingBenchDB(ctx, d, o.DSN, o.Concurrency+4)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	if err != nil {
		return err
	}
	// Bookings as serve makes them: each also inserts its invoice email
	// and expiry jobs in its transaction.
	qd, err := app.QueueDriver(ctx, db)
	if err != nil {
		return err
	}
	q, err := queue.NewClient(qd, &queue.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	svc := booking.NewService(booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(),
		// A load test measures bookings, not the fair-use limits: no limit
		// on quantity, pending bookings or rate.
		MaxQuantity: 0,
		OnCreateTx:  []booking.TxHook{app.BookingJobsTx(q)},
	})
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: 4})
	_, userIDs, tourIDs, err := bookingBenchFixtures(ctx, db, accounts, cfg, 256, 64)
	if err != nil {
		return err
	}

	res := PruneResult{Backend: string(d), Rows: o.Rows, Chunk: o.Chunk, Concurrency: o.Concurrency,
		GOMAXPROCS: runtime.GOMAXPROCS(0)}
	seedStart := time.Now()
	err = benchPruneSeed(ctx, db, o.Rows)
	if o.Progress != nil {
		o.Progress.Report("seed", 2*int64(o.Rows), time.Since(seedStart), err)
	}
	if err != nil {
		return err
	}
	res.SeedS = round2(time.Since(seedStart).Seconds())

	book := func(worker int) error {
		_, err := svc.Book(ctx, booking.BookParams{
			UserID: userIDs[worker%len(userIDs)], TourID: tourIDs[mrand.IntN(len(tourIDs))], Quantity: 1,
		})
		return err
	}
	res.LoadAvg = hostLoadAvg()
	before := benchPruneLoad(ctx, "before", o.Concurrency, book, timer(o.Duration))
	res.Phases = append(res.Phases, before)

	r := config.Retention{JobMetrics: 30 * 24 * time.Hour, CompletedJobs: 24 * time.Hour, ChunkSize: o.Chunk}
	params := retention.Params{DB: db, Retention: r, Budget: 24 * time.Hour}
	if o.Progress != nil {
		params.OnTable = func(t retention.Result) { o.Progress.Report(t.Table, t.Rows, t.Took, t.Err) }
	}
	pruner, err := retention.New(params)
	if err != nil {
		return err
	}
	if d == store.SQLite {
		// Start the prune with an empty log, so that its peak is what the
		// prune and the bookings beside it wrote, not the seeding.
		if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return fmt.Errorf("bench prune: checkpoint: %w", err)
		}
	}
	done := make(chan struct{})
	var (
		rep  *retention.Report
		perr error
	)
	go func() {
		defer close(done)
		rep, perr = pruner.PruneOnce(ctx)
	}()
	walMax := make(chan int64, 1)
	go func() { walMax <- benchPruneWatchWAL(db, done) }()
	during := benchPruneLoad(ctx, "during prune", o.Concurrency, book, done)
	<-done
	res.WALMaxMB = round2(float64(<-walMax) / (1 << 20))
	if perr != nil {
		return perr
	}
	res.Phases = append(res.Phases, during)
	after := benchPruneLoad(ctx, "after", o.Concurrency, book, timer(o.Duration))
	res.Phases = append(res.Phases, after)

	res.PruneS = round2(rep.Took.Seconds())
	res.PrunedRows = rep.Rows
	res.Tables = rep.Results
	if rep.Took > 0 {
		res.RowsPerSec = round2(float64(rep.Rows) / rep.Took.Seconds())
	}
	var metrics, completed int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM job_metrics").Scan(&metrics); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM completed_jobs").Scan(&completed); err != nil {
		return err
	}
	res.KeptOK = rep.Rows == int64(2*o.Rows) && metrics == benchPruneKept && completed == benchPruneKept
	bad, err := db.TourCheckInvariant(ctx)
	if err != nil {
		return err
	}
	res.InvariantOK = len(bad) == 0

	if o.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "bench prune on %s: %d old rows in job_metrics and in completed_jobs (seeded in %.1f s), chunks of %d, %d booking clients (GOMAXPROCS=%d, load %s)\n",
		d, o.Rows, res.SeedS, o.Chunk, o.Concurrency, res.GOMAXPROCS, res.LoadAvg)
	fmt.Fprintf(stdout, "  prune: %d rows in %.2f s (%.0f rows/s)", res.PrunedRows, res.PruneS, res.RowsPerSec)
	for _, t := range res.Tables {
		fmt.Fprintf(stdout, "; %s %d in %.2f s", t.Table, t.Rows, t.TookMS/1000)
	}
	fmt.Fprintf(stdout, "\n  recent rows kept, every old one gone: %v; invariant: %v", res.KeptOK, res.InvariantOK)
	if d == store.SQLite {
		fmt.Fprintf(stdout, "; largest WAL during the prune: %.0f MB", res.WALMaxMB)
	}
	fmt.Fprintln(stdout)
	for _, p := range res.Phases {
		fmt.Fprintf(stdout, "  %-13s %5.1f s  %7.0f bookings/s  p50 %6.2f ms  p99 %7.2f ms  max %7.2f ms  (%d errors)\n",
			p.Phase, p.DurationS, p.BookingsSec, p.P50Ms, p.P99Ms, p.MaxMs, p.Errors)
	}
	return nil
}

// benchPruneKept is how many recent rows each table gets beside the old
// ones: the prune must leave them.
const benchPruneKept = 1000

// benchPruneSeed writes n old rows (40 days and more) and benchPruneKept
// recent ones into job_metrics and completed_jobs, with multi-row inserts.
func benchPruneSeed(ctx context.Context, db *store.DB, n int) error {
	now := time.Now().Unix()
	old := now - 400*86400
	const batch = 1000
	insert := func(table, cols string, ncols, total int, row func(i int) []any) error {
		for start := 0; start < total; start += batch {
			end := min(start+batch, total)
			var b strings.Builder
			args := make([]any, 0, (end-start)*ncols)
			b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
			for i := start; i < end; i++ {
				if i > start {
					b.WriteByte(',')
				}
				b.WriteString("(" + strings.TrimSuffix(strings.Repeat("?,", ncols), ",") + ")")
				args = append(args, row(i)...)
			}
			if _, err := db.ExecContext(ctx, db.Rebind(b.String()), args...); err != nil {
				return fmt.Errorf("bench prune: seed %s: %w", table, err)
			}
		}
		return nil
	}
	// job_metrics: 20 queues, one point per queue and minute, oldest 400
	// days ago; the recent ones in the last hour of another queue.
	const queues = 20
	err := insert("job_metrics", "queue, minute, processed, failed, runtime_ms, max_wait_ms", 6, n, func(i int) []any {
		return []any{fmt.Sprintf("q%02d", i%queues), old + int64(i/queues)*60, 10, 0, 100, 5}
	})
	if err != nil {
		return err
	}
	err = insert("job_metrics", "queue, minute, processed, failed, runtime_ms, max_wait_ms", 6, benchPruneKept, func(i int) []any {
		return []any{"recent", now - int64(i)*60, 10, 0, 100, 5}
	})
	if err != nil {
		return err
	}
	err = insert("completed_jobs", "uuid, queue, kind, attempts, runtime_ms, wait_ms, completed_at", 7, n, func(i int) []any {
		return []any{fmt.Sprintf("old-%d", i), "default", "SendInvoiceEmail", 1, 12, 3, old + int64(i)/50}
	})
	if err != nil {
		return err
	}
	err = insert("completed_jobs", "uuid, queue, kind, attempts, runtime_ms, wait_ms, completed_at", 7, benchPruneKept, func(i int) []any {
		return []any{fmt.Sprintf("new-%d", i), "default", "SendInvoiceEmail", 1, 12, 3, now - int64(i)}
	})
	if err != nil {
		return err
	}
	// Fresh statistics, as autovacuum or InnoDB would have them by the
	// time a table is this large.
	switch db.Dialect {
	case store.PgSQL:
		if _, err = db.ExecContext(ctx, "ANALYZE job_metrics"); err == nil {
			_, err = db.ExecContext(ctx, "ANALYZE completed_jobs")
		}
	case store.MySQL:
		_, err = db.ExecContext(ctx, "ANALYZE TABLE job_metrics, completed_jobs")
	default:
		_, err = db.ExecContext(ctx, "ANALYZE")
	}
	if err != nil {
		return fmt.Errorf("bench prune: analyze: %w", err)
	}
	return nil
}

// benchPruneWatchWAL samples the size of a SQLite database's write-ahead
// log every 100 ms until stop is closed and returns the largest; 0 for the
// other dialects.
func benchPruneWatchWAL(db *store.DB, stop <-chan struct{}) int64 {
	if db.Dialect != store.SQLite {
		return 0
	}
	var largest int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if fi, err := os.Stat(db.Name + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
		select {
		case <-stop:
			return largest
		case <-t.C:
		}
	}
}

func timer(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

// benchPruneLoad books from n goroutines until stop is closed and returns
// the phase's figures.
func benchPruneLoad(ctx context.Context, name string, n int, op func(worker int) error, stop <-chan struct{}) PrunePhase {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lats []time.Duration
		errs int
	)
	start := time.Now()
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				select {
				case <-stop:
					mu.Lock()
					lats, errs = append(lats, mine...), errs+bad
					mu.Unlock()
					return
				default:
				}
				t0 := time.Now()
				if err := op(w); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats, errs = append(lats, mine...), errs+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	return PrunePhase{
		Phase: name, DurationS: round2(elapsed.Seconds()), Bookings: len(lats), Errors: errs,
		BookingsSec: round2(float64(len(lats)) / elapsed.Seconds()),
		P50Ms:       round2(percentileMS(lats, 50)), P99Ms: round2(percentileMS(lats, 99)), MaxMs: round2(percentileMS(lats, 100)),
	}
}
