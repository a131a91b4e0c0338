package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// BookingResult is the one JSON line the benchmark prints.
type BookingResult struct {
	Backend     string  `json:"backend"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	Tours       int     `json:"tours"`
	Users       int     `json:"users"`
	// WithJobs tells whether each booking also inserted its invoice email
	// and expiry jobs, as serve does.
	WithJobs bool `json:"with_jobs"`
	// FairUse tells whether each booking also counted the customer's
	// pending bookings (under the user's row lock) and hit the per-minute
	// limiter (--fair-use).
	FairUse bool `json:"fair_use"`
	// BookingPhase is the measurement (after seeding, with
	// --seed-bookings).
	BookingPhase
	Created      int     `json:"created"`
	HTTPOverRaw  float64 `json:"http_over_raw"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	InvariantOK  bool    `json:"invariant_ok"`
	FirstFailure string  `json:"first_failure,omitempty"`
	// With --seed-bookings, Empty is the same measurement before seeding
	// (the top-level figures are the one after), Seed what was inserted,
	// and the ratios compare the two phases of this run.
	Empty               *BookingPhase `json:"empty,omitempty"`
	Seed                *SeedResult   `json:"seed,omitempty"`
	P99SeededOverEmpty  float64       `json:"p99_seeded_over_empty,omitempty"`
	RateSeededOverEmpty float64       `json:"rate_seeded_over_empty,omitempty"`
	// BookingsByStatus counts the table's bookings at the end of a seeded
	// run.
	BookingsByStatus map[string]int `json:"bookings_by_status,omitempty"`
}

// BookingPhase is the figures of one measurement of `bench booking`.
type BookingPhase struct {
	Requests       int     `json:"requests"`
	Errors         int     `json:"errors"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	LatencyP50Ms   float64 `json:"latency_p50_ms"`
	LatencyP90Ms   float64 `json:"latency_p90_ms"`
	LatencyP99Ms   float64 `json:"latency_p99_ms"`
	LatencyMaxMs   float64 `json:"latency_max_ms"`
	// RawTxPerSec is the same booking transaction (Service.Book: the
	// conditional update, the insert, the commit) run by the same number
	// of goroutines without HTTP, authentication or JSON, in the same run:
	// the bound the database puts on the API.
	RawTxPerSec float64 `json:"raw_tx_per_sec"`
	RawP50Ms    float64 `json:"raw_p50_ms"`
	RawP99Ms    float64 `json:"raw_p99_ms"`
	// LoadAvg is the host's 1, 5 and 15 minute load averages when the
	// measurement started (Linux): the figures mean little on a busy host.
	LoadAvg string `json:"load_avg,omitempty"`
	// CPUPerRequestUs and CPUPerRawTxUs are the process's CPU time (user
	// and system, load generator included) per operation. On a busy host
	// they still tell what the code costs, and they move less with the
	// host's load than the rates: GOMAXPROCS × 10⁶ / CPU per operation
	// bounds the rate an idle host of this size could reach.
	CPUPerRequestUs float64 `json:"cpu_us_per_request"`
	CPUPerRawTxUs   float64 `json:"cpu_us_per_raw_tx"`
}

// BookingOptions configure `bench booking`.
type BookingOptions struct {
	// Backend is the database; DSN, for MySQL and PostgreSQL, the server
	// to create the benchmark's database on (empty: the local default).
	Backend store.Dialect
	DSN     string
	// Concurrency clients book for Duration in each phase, after Warmup
	// of unmeasured load, on Tours tours as Users customers.
	Concurrency int
	Duration    time.Duration
	Warmup      time.Duration
	Tours       int
	Users       int
	// CPUProfile, when set, is the file the CPU profile of the HTTP phase
	// goes to.
	CPUProfile string
	// NoJobs books without inserting the invoice email and expiry jobs.
	NoJobs bool
	// FairUse runs the fair-use checks, with limits too high to refuse.
	FairUse bool
	// JSON prints the result as one JSON line.
	JSON bool
	// SeedBookings, when positive, measures once, inserts that many
	// bookings of the past year (see seedBookings), and measures again.
	SeedBookings int
}

// Booking load-tests POST /api/bookings against an in-process server on
// a fresh database, then the same booking transaction without HTTP, and
// prints the result on stdout.
func Booking(ctx context.Context, o BookingOptions, stdout io.Writer) error {
	d := o.Backend
	db, cleanup, err := openBookingBenchDB(ctx, d, o.DSN, o.Concurrency)
	if err != nil {
		return err
	}
	defer cleanup()

	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	if err != nil {
		return err
	}
	// As in serve, the booking transaction also inserts the invoice email
	// job and the booking's own expiry job; no worker runs, so the jobs
	// stay in the table.
	var hooks []booking.TxHook
	if !o.NoJobs {
		d, err := app.QueueDriver(ctx, db)
		if err != nil {
			return err
		}
		q, err := queue.NewClient(d, &queue.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		hooks = []booking.TxHook{app.BookingJobsTx(q)}
	}
	params := booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(),
		// A load test measures bookings, not the fair-use limits: no limit
		// on quantity, pending bookings or rate.
		MaxQuantity: 0,
		OnCreateTx:  hooks,
	}
	if o.FairUse {
		// The checks run, on the same paths as serve's, but never refuse.
		params.MaxPendingPerUser, params.RateLimit = 1_000_000, 1_000_000
		params.Limiter = dbdriver.NewAdmin(db.DB)
	}
	svc := booking.NewService(params)
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: 4})
	tokens, userIDs, tourIDs, err := bookingBenchFixtures(ctx, db, accounts, cfg, o.Users, o.Tours)
	if err != nil {
		return err
	}
	// A load generator is one client: the limits meant for real clients
	// would measure themselves.
	cfg.LoginRateLimit, cfg.LoginIPRateLimit, cfg.RegisterRateLimit = 0, 0, 0
	// Access logs are off: writing a line per request is a cost of its
	// own, measured separately from the booking path.
	api := httpapi.New(httpapi.Params{
		Config: cfg, DB: db, Bookings: svc, Accounts: accounts, Logger: slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(api)
	defer srv.Close()

	res := BookingResult{
		Backend: string(d), Concurrency: o.Concurrency, DurationS: o.Duration.Seconds(),
		Tours: o.Tours, Users: o.Users, GOMAXPROCS: runtime.GOMAXPROCS(0), WithJobs: !o.NoJobs, FairUse: o.FairUse,
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency,
		DisableCompression: true,
	}}
	bodies := make([][]byte, len(tourIDs))
	for i, id := range tourIDs {
		bodies[i] = []byte(fmt.Sprintf(`{"tour_id":%d,"quantity":1}`, id))
	}
	var firstFailure sync.Once
	httpOnce := func(worker int) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/bookings", bytes.NewReader(bodies[mrand.IntN(len(bodies))]))
		if err != nil {
			return false, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[worker%len(tokens)])
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			firstFailure.Do(func() { res.FirstFailure = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body))) })
			return false, nil
		}
		return true, nil
	}
	rawOnce := func(worker int) (bool, error) {
		_, err := svc.Book(ctx, booking.BookParams{
			UserID: userIDs[worker%len(userIDs)], TourID: tourIDs[mrand.IntN(len(tourIDs))], Quantity: 1,
		})
		if err != nil {
			firstFailure.Do(func() { res.FirstFailure = "raw: " + err.Error() })
			return false, nil
		}
		return true, nil
	}

	// measure runs the warm-up, the HTTP phase and the raw phase, and
	// fills the figures of res.
	measure := func(res *BookingResult, profile bool) error {
		if o.Warmup > 0 {
			if _, err := bookingBenchLoad(ctx, o.Concurrency, o.Warmup, httpOnce); err != nil {
				return err
			}
		}
		if profile && o.CPUProfile != "" {
			f, err := os.Create(o.CPUProfile)
			if err != nil {
				return fmt.Errorf("bench booking: %w", err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("bench booking: %w", err)
			}
		}
		res.LoadAvg = hostLoadAvg()
		cpu0 := processCPU()
		h, err := bookingBenchLoad(ctx, o.Concurrency, o.Duration, httpOnce)
		cpu1 := processCPU()
		if profile && o.CPUProfile != "" {
			pprof.StopCPUProfile()
		}
		if err != nil {
			return err
		}
		raw, err := bookingBenchLoad(ctx, o.Concurrency, o.Duration, rawOnce)
		if err != nil {
			return err
		}
		cpu2 := processCPU()
		if h.total > 0 {
			res.CPUPerRequestUs = round2(float64((cpu1 - cpu0).Microseconds()) / float64(h.total))
		}
		if raw.total > 0 {
			res.CPUPerRawTxUs = round2(float64((cpu2 - cpu1).Microseconds()) / float64(raw.total))
		}
		res.Requests, res.Created, res.Errors = h.total, h.ok, h.total-h.ok
		res.RequestsPerSec = round2(float64(h.ok) / h.elapsed.Seconds())
		res.LatencyP50Ms, res.LatencyP90Ms = h.percentile(50), h.percentile(90)
		res.LatencyP99Ms, res.LatencyMaxMs = h.percentile(99), h.percentile(100)
		res.RawTxPerSec = round2(float64(raw.ok) / raw.elapsed.Seconds())
		res.RawP50Ms, res.RawP99Ms = raw.percentile(50), raw.percentile(99)
		if res.RawTxPerSec > 0 {
			res.HTTPOverRaw = round2(res.RequestsPerSec / res.RawTxPerSec)
		}
		return nil
	}

	if o.SeedBookings > 0 {
		// The same measurement on the table as it is (the fixtures only),
		// then the seeded rows, then the measurement again: both phases
		// run with the same flags in the same process.
		empty := &BookingResult{}
		if err := measure(empty, false); err != nil {
			return err
		}
		res.Empty = &empty.BookingPhase
		settled, err := settleFirstPhase(ctx, db)
		if err != nil {
			return err
		}
		seeded, err := seedBookings(ctx, db, o.SeedBookings, userIDs, tourIDs, cfg.AppTimezone, cfg.BookingExpiry())
		if err != nil {
			return err
		}
		seeded.FirstPhasePaid = settled
		res.Seed = seeded
	}
	if err := measure(&res, true); err != nil {
		return err
	}
	if res.Empty != nil && res.Empty.LatencyP99Ms > 0 {
		res.P99SeededOverEmpty = round2(res.LatencyP99Ms / res.Empty.LatencyP99Ms)
		if res.Empty.RequestsPerSec > 0 {
			res.RateSeededOverEmpty = round2(res.RequestsPerSec / res.Empty.RequestsPerSec)
		}
	}
	if res.Seed != nil {
		if res.BookingsByStatus, err = countBookingsByStatus(ctx, db); err != nil {
			return err
		}
	}
	bad, err := db.TourCheckInvariant(ctx)
	if err != nil {
		return err
	}
	res.InvariantOK = len(bad) == 0

	if o.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "bench booking on %s, %d clients, %s per phase (GOMAXPROCS=%d)\n", d, res.Concurrency, o.Duration, res.GOMAXPROCS)
	fmt.Fprintf(stdout, "  HTTP  %9.0f bookings/s  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  (%d requests, %d errors)\n",
		res.RequestsPerSec, res.LatencyP50Ms, res.LatencyP90Ms, res.LatencyP99Ms, res.LatencyMaxMs, res.Requests, res.Errors)
	fmt.Fprintf(stdout, "  raw   %9.0f tx/s        p50 %.2f ms  p99 %.2f ms  (HTTP reaches %.0f%% of raw)\n",
		res.RawTxPerSec, res.RawP50Ms, res.RawP99Ms, 100*res.HTTPOverRaw)
	fmt.Fprintf(stdout, "  CPU per request %.0f µs, per raw transaction %.0f µs\n", res.CPUPerRequestUs, res.CPUPerRawTxUs)
	fmt.Fprintf(stdout, "  host load average at start: %s\n", res.LoadAvg)
	fmt.Fprintf(stdout, "  invariant capacity = quota + held seats: %v\n", res.InvariantOK)
	if e := res.Empty; e != nil {
		fmt.Fprintf(stdout, "  before seeding (fixtures only):\n")
		fmt.Fprintf(stdout, "    HTTP  %9.0f bookings/s  p50 %.2f ms  p99 %.2f ms  raw p99 %.2f ms  CPU per request %.0f µs  load %s\n",
			e.RequestsPerSec, e.LatencyP50Ms, e.LatencyP99Ms, e.RawP99Ms, e.CPUPerRequestUs, e.LoadAvg)
		fmt.Fprintf(stdout, "  seeded %d bookings (%d pending, %d paid, %d expired) in %.1f s\n",
			res.Seed.Bookings, res.Seed.Pending, res.Seed.Paid, res.Seed.Expired, res.Seed.Seconds)
		fmt.Fprintf(stdout, "  seeded / before: p99 × %.2f, bookings/s × %.2f (the HTTP line above is the seeded phase)\n",
			res.P99SeededOverEmpty, res.RateSeededOverEmpty)
	}
	if res.FirstFailure != "" {
		fmt.Fprintf(stdout, "  first failure: %s\n", res.FirstFailure)
	}
	return nil
}

// bookingBenchPhase is the outcome of one load phase.
type bookingBenchPhase struct {
	total, ok int
	elapsed   time.Duration
	latencies []time.Duration
}

func (p *bookingBenchPhase) percentile(q float64) float64 {
	return round2(percentileMS(p.latencies, q))
}

// bookingBenchLoad runs op from n goroutines for d and collects every latency.
func bookingBenchLoad(ctx context.Context, n int, d time.Duration, op func(worker int) (bool, error)) (*bookingBenchPhase, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		out      = &bookingBenchPhase{}
		firstErr error
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			total, ok := 0, 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				good, err := op(w)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
				total++
				if good {
					ok++
				}
			}
			mu.Lock()
			out.latencies = append(out.latencies, lat...)
			out.total += total
			out.ok += ok
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	slices.Sort(out.latencies)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, fmt.Errorf("bench booking: %w", firstErr)
	}
	return out, nil
}

// bookingBenchFixtures creates customers with tokens and tours with seats to
// spare, departing in a month.
func bookingBenchFixtures(ctx context.Context, db *store.DB, accounts *booking.Accounts, cfg *config.Config, users, tours int) (tokens []string, userIDs, tourIDs []int64, err error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := 0; i < users; i++ {
		u := &booking.User{Name: fmt.Sprintf("Bench %d", i), Email: fmt.Sprintf("bench%d@tripin.test", i),
			PasswordHash: "!", CreatedAt: now, UpdatedAt: now}
		if err := db.UserCreate(ctx, u); err != nil {
			return nil, nil, nil, err
		}
		tok, err := accounts.IssueToken(ctx, u.ID, "bench")
		if err != nil {
			return nil, nil, nil, err
		}
		tokens, userIDs = append(tokens, tok), append(userIDs, u.ID)
	}
	date := now.In(cfg.AppTimezone).AddDate(0, 1, 0).Format(booking.DateLayout)
	for i := 0; i < tours; i++ {
		t := &booking.Tour{Title: fmt.Sprintf("Bench tour %d", i), Destination: "Bali", DepartureDate: date,
			Price: 1_000_000, Capacity: booking.MaxTourCapacity, Quota: booking.MaxTourCapacity, CreatedAt: now, UpdatedAt: now}
		if err := db.TourCreate(ctx, t); err != nil {
			return nil, nil, nil, err
		}
		tourIDs = append(tourIDs, t.ID)
	}
	return tokens, userIDs, tourIDs, nil
}

// openBookingBenchDB creates a fresh, migrated database for the benchmark: a file
// in a temporary directory for SQLite, a new database on the server of dsn
// (default: the local one) for MySQL and PostgreSQL. cleanup closes and
// removes it.
func openBookingBenchDB(ctx context.Context, d store.Dialect, dsn string, conns int) (*store.DB, func(), error) {
	var where string
	switch d {
	case store.MySQL:
		where = firstNonEmpty(dsn, DefaultMySQLDSN)
	case store.PgSQL:
		where = firstNonEmpty(dsn, DefaultPgSQLDSN)
	}
	db, _, cleanup, err := freshDB(ctx, d, where, conns)
	if err != nil {
		return nil, nil, fmt.Errorf("bench booking: %w", err)
	}
	return db, cleanup, nil
}
