package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
)

// ServeOptions configure `bench serve`.
type ServeOptions struct {
	// Server is the tripin binary run as `serve`.
	Server string
	// Backends are measured one after the other, each on a fresh database;
	// MySQLDSN and PgSQLDSN name the servers to create them on.
	Backends           []store.Dialect
	MySQLDSN, PgSQLDSN string
	// Queue is serve's QUEUE_CONNECTION: "database" (the default) or
	// "redis", on RedisURL under a key prefix of the run's own, deleted
	// afterwards.
	Queue, RedisURL string
	// Mailer is "smtp" (a sink the bench runs, which accepts and counts
	// every message) or "log" (serve's log mailer, into its log file).
	Mailer string
	// Rate is the fixed rate of booking requests per second; 0 sends them
	// as fast as Concurrency connections allow.
	Rate        int
	Concurrency int
	// Duration is how long the load lasts; Drain how long the bench waits
	// afterwards for the email queue to empty; Sample how often it reads
	// the email lag.
	Duration, Drain, Sample time.Duration
	Tours, Users            int
	// Compare also runs `bench booking` (the handler alone, in-process) on
	// the same backend, with the same clients and duration.
	Compare bool
	// CPUProfileDir, when set, receives serve's CPU profile of each
	// backend (serve-<backend>.pprof), from start to stop.
	CPUProfileDir string
	// NoWorker runs `serve --no-worker`: the API alone, its email jobs
	// left waiting, to split serve's cost between the API and its worker.
	NoWorker bool
	// WorkerConcurrency, when positive, is serve's --worker-concurrency.
	WorkerConcurrency int
	// SVG, when set, is the file the plot of every backend's email lag
	// over time goes to.
	SVG string
	// Keep keeps each run's directory (database, logs, server output).
	Keep bool
	JSON bool
}

// ServeLagSample is the email queue at a moment of the run.
type ServeLagSample struct {
	AtS     float64 `json:"at_s"`
	Pending int     `json:"pending"`
	LagS    float64 `json:"lag_s"`
}

// ServeResult is one backend's line of `bench serve --json`.
type ServeResult struct {
	Backend  string `json:"backend"`
	Mailer   string `json:"mailer"`
	Queue    string `json:"queue"`
	NoWorker bool   `json:"no_worker,omitempty"`
	// WorkerConcurrency is serve's --worker-concurrency (0: its default).
	WorkerConcurrency int     `json:"worker_concurrency,omitempty"`
	Rate              int     `json:"rate"`
	Concurrency       int     `json:"concurrency"`
	DurationS         float64 `json:"duration_s"`
	Tours             int     `json:"tours"`
	Users             int     `json:"users"`
	Requests          int     `json:"requests"`
	Created           int     `json:"created"`
	Errors            int     `json:"errors"`
	// BookingsPerSec counts the bookings created (201) over the load.
	BookingsPerSec float64 `json:"bookings_per_sec"`
	LatencyP50Ms   float64 `json:"latency_p50_ms"`
	LatencyP99Ms   float64 `json:"latency_p99_ms"`
	LatencyMaxMs   float64 `json:"latency_max_ms"`
	// EmailLagMaxS is the largest age of the oldest waiting email job seen
	// during the load; EmailLagEndS the age when the load ended, with
	// EmailPendingEnd emails still waiting. EmailDrainS is how long after
	// the load the email queue took to empty (-1: not within --drain).
	EmailLagMaxS    float64 `json:"email_lag_max_s"`
	EmailLagEndS    float64 `json:"email_lag_end_s"`
	EmailPendingEnd int     `json:"email_pending_end"`
	EmailDrainS     float64 `json:"email_drain_s"`
	// EmailsDelivered counts the messages the SMTP sink accepted (smtp
	// mailer only); every booking sends one invoice.
	EmailsDelivered int `json:"emails_delivered"`
	// CPUPerBookingUs is serve's CPU time (user and system) during the
	// load per booking created; CPUPerBookingAllUs also counts the
	// draining of the emails after the load.
	CPUPerBookingUs    float64 `json:"cpu_us_per_booking"`
	CPUPerBookingAllUs float64 `json:"cpu_us_per_booking_with_drain"`
	// Disk growth per booking, from before the load to after the drain:
	// the database (SQLite: the main file; MariaDB: InnoDB's data and
	// index length after ANALYZE; PostgreSQL: pg_database_size), the
	// SQLite WAL, and serve's log file.
	DiskDBBytesPerBooking  float64 `json:"disk_db_bytes_per_booking"`
	DiskWALBytesPerBooking float64 `json:"disk_wal_bytes_per_booking"`
	DiskLogBytesPerBooking float64 `json:"disk_log_bytes_per_booking"`
	// HandlerPerSec is `bench booking`'s HTTP rate on the same backend in
	// the same run (--compare), and ServeOverHandler the ratio.
	HandlerPerSec    float64          `json:"handler_bookings_per_sec,omitempty"`
	ServeOverHandler float64          `json:"serve_over_handler,omitempty"`
	Samples          []ServeLagSample `json:"samples"`
	LoadAvg          string           `json:"load_avg,omitempty"`
	FirstFailure     string           `json:"first_failure,omitempty"`
}

// Serve runs `tripin serve` on a fresh database of each backend, loads
// POST /api/bookings from an independent load generator (vegeta's
// library) and prints what it measured.
func Serve(ctx context.Context, o ServeOptions, stdout, stderr io.Writer) error {
	var results []*ServeResult
	for _, d := range o.Backends {
		res, err := benchServe(ctx, d, o, stderr)
		if err != nil {
			return fmt.Errorf("bench serve: %s: %w", d, err)
		}
		if o.Compare {
			var buf bytes.Buffer
			bo := BookingOptions{Backend: d, DSN: serveServerDSN(d, o), Concurrency: o.Concurrency,
				Duration: o.Duration, Tours: o.Tours, Users: o.Users, JSON: true}
			if err := Booking(ctx, bo, &buf); err != nil {
				return fmt.Errorf("bench serve: %s: bench booking: %w", d, err)
			}
			var br BookingResult
			if err := json.Unmarshal(buf.Bytes(), &br); err != nil {
				return fmt.Errorf("bench serve: bench booking: %w", err)
			}
			res.HandlerPerSec = br.RequestsPerSec
			if br.RequestsPerSec > 0 {
				res.ServeOverHandler = round2(res.BookingsPerSec / br.RequestsPerSec)
			}
		}
		if o.JSON {
			if err := json.NewEncoder(stdout).Encode(res); err != nil {
				return err
			}
		} else {
			printServeBench(stdout, res)
		}
		results = append(results, res)
	}
	if o.SVG != "" {
		if err := os.WriteFile(o.SVG, serveLagSVG(results), 0o644); err != nil {
			return fmt.Errorf("bench serve: %w", err)
		}
	}
	return nil
}

func printServeBench(w io.Writer, r *ServeResult) {
	rate := "max rate"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%d/s", r.Rate)
	}
	worker := ""
	if r.WorkerConcurrency > 0 {
		worker = fmt.Sprintf(", serve --worker-concurrency %d", r.WorkerConcurrency)
	}
	if r.NoWorker {
		worker = ", serve --no-worker (the emails wait)"
	}
	fmt.Fprintf(w, "bench serve on %s (%s queue): %s, %d connections, %.0f s, %s mailer%s\n", r.Backend, r.Queue, rate, r.Concurrency, r.DurationS, r.Mailer, worker)
	fmt.Fprintf(w, "  bookings    %.0f/s  p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d requests, %d errors)\n",
		r.BookingsPerSec, r.LatencyP50Ms, r.LatencyP99Ms, r.LatencyMaxMs, r.Requests, r.Errors)
	drain := "not within --drain"
	if r.EmailDrainS >= 0 {
		drain = fmt.Sprintf("%.1f s", r.EmailDrainS)
	}
	fmt.Fprintf(w, "  email lag   max %.0f s during the load, %.0f s at its end (%d waiting); emptied %s after\n",
		r.EmailLagMaxS, r.EmailLagEndS, r.EmailPendingEnd, drain)
	if r.Mailer == "smtp" {
		fmt.Fprintf(w, "  emails      %d delivered to the SMTP sink for %d bookings\n", r.EmailsDelivered, r.Created)
	}
	fmt.Fprintf(w, "  CPU         %.0f µs per booking during the load, %.0f µs with the drain\n", r.CPUPerBookingUs, r.CPUPerBookingAllUs)
	fmt.Fprintf(w, "  disk        %.0f B database + %.0f B WAL + %.0f B log per booking\n",
		r.DiskDBBytesPerBooking, r.DiskWALBytesPerBooking, r.DiskLogBytesPerBooking)
	if r.HandlerPerSec > 0 {
		fmt.Fprintf(w, "  handler     bench booking %.0f/s: serve reaches %.0f%%\n", r.HandlerPerSec, 100*r.ServeOverHandler)
	}
	fmt.Fprintf(w, "  host load average at start: %s\n", r.LoadAvg)
	if r.FirstFailure != "" {
		fmt.Fprintf(w, "  first failure: %s\n", r.FirstFailure)
	}
}

func serveServerDSN(d store.Dialect, o ServeOptions) string {
	switch d {
	case store.MySQL:
		return ServerDSN(d, o.MySQLDSN)
	case store.PgSQL:
		return ServerDSN(d, o.PgSQLDSN)
	}
	return ""
}

// benchServe measures one backend.
func benchServe(ctx context.Context, d store.Dialect, o ServeOptions, stderr io.Writer) (*ServeResult, error) {
	dir, err := os.MkdirTemp("", "tripin-bench-serve-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintf(stderr, "bench serve: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	where := serveServerDSN(d, o)
	if d == store.SQLite {
		where = dir
	}
	db, dsn, drop, err := freshDB(ctx, d, where, 2)
	if err != nil {
		return nil, err
	}
	if o.Keep && d == store.SQLite {
		// The SQLite file stays in the kept directory; a server's database
		// is dropped whatever --keep says.
		defer db.Close()
	} else {
		defer drop()
	}
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	if err != nil {
		return nil, err
	}
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: 4})
	tokens, _, tourIDs, err := bookingBenchFixtures(ctx, db, accounts, cfg, o.Users, o.Tours)
	if err != nil {
		return nil, err
	}

	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir(),
		"APP_ENV=testing", "APP_DEBUG=false", "DB_CONNECTION=" + string(d),
		// No payment is made: a sandbox key that is never used.
		"MIDTRANS_SERVER_KEY=SB-Mid-server-bench",
		"LOG_LEVEL=info",
		"LOG_FILE=" + filepath.Join(dir, "logs", "tripin.log"),
		// A load test measures bookings, not the fair-use limits.
		"BOOKING_MAX_PENDING_PER_USER=0", "BOOKING_RATE_LIMIT=0", "BOOKING_MAX_QUANTITY=0",
		"LOGIN_RATE_LIMIT=0", "LOGIN_IP_RATE_LIMIT=0", "REGISTER_RATE_LIMIT=0",
	}
	if d == store.SQLite {
		env = append(env, "DB_DATABASE="+dsn)
	} else {
		env = append(env, "DB_URL="+dsn)
	}
	lag := &emailLag{db: db}
	if o.Queue == "redis" {
		prefix := benchRedisPrefix()
		defer deleteBenchRedisKeys(o.RedisURL, prefix)
		rd, closeRedis, err := newBenchRedisDriver(ctx, o.RedisURL, prefix, db)
		if err != nil {
			return nil, err
		}
		defer closeRedis()
		stats, ok := rd.(driver.Queues)
		if !ok {
			return nil, errors.New("the redis driver has no queue counters")
		}
		lag.stats = stats
		env = append(env, "QUEUE_CONNECTION=redis", "REDIS_URL="+o.RedisURL, "REDIS_QUEUE_PREFIX="+prefix)
	} else {
		env = append(env, "QUEUE_CONNECTION=database")
	}
	var sink *smtpSink
	switch o.Mailer {
	case "smtp":
		if sink, err = startSMTPSink(); err != nil {
			return nil, err
		}
		defer sink.close()
		env = append(env, "MAIL_MAILER=smtp", "MAIL_HOST=127.0.0.1", "MAIL_PORT="+strconv.Itoa(sink.port),
			"MAIL_ENCRYPTION=none", "MAIL_FROM_ADDRESS=bookings@tripin.test")
	default:
		env = append(env, "MAIL_MAILER=log")
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", addr}
	if o.NoWorker {
		args = append(args, "--no-worker")
	}
	if o.WorkerConcurrency > 0 {
		args = append(args, "--worker-concurrency", strconv.Itoa(o.WorkerConcurrency))
	}
	if o.CPUProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(o.CPUProfileDir, "serve-"+string(d)+".pprof"))
	}
	srv, err := startServeChild(o.Server, dir, env, args)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}
	if err := waitHealthy(ctx, client, base, srv, 2*time.Minute); err != nil {
		if srv.exited() {
			return nil, fmt.Errorf("serve exited at start; its output is in %s (use --keep)", srv.outPath)
		}
		return nil, err
	}

	res := &ServeResult{
		Backend: string(d), Mailer: o.Mailer, Queue: o.Queue, NoWorker: o.NoWorker, WorkerConcurrency: o.WorkerConcurrency, Rate: o.Rate, Concurrency: o.Concurrency,
		DurationS: o.Duration.Seconds(), Tours: o.Tours, Users: o.Users, LoadAvg: hostLoadAvg(), EmailDrainS: -1,
	}
	logPath := filepath.Join(dir, "logs", "tripin.log")
	disk0 := serveDisk(ctx, db, dsn, logPath)
	cpu0 := childCPU(srv.cmd.Process.Pid)
	start := time.Now()
	lag.start = start
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		lag.run(sampleCtx, o.Sample)
	}()

	loadErr := serveLoad(ctx, base, tokens, tourIDs, o, res)
	cpu1 := childCPU(srv.cmd.Process.Pid)
	loadEnd := time.Now()
	stopSampling()
	<-sampled
	if loadErr != nil {
		return nil, loadErr
	}
	for _, s := range lag.samples {
		res.EmailLagMaxS = max(res.EmailLagMaxS, s.LagS)
	}
	if last, ok := lag.read(ctx); ok {
		res.EmailLagEndS, res.EmailPendingEnd = last.LagS, last.Pending
	}
	// After the load: sample until the email queue is empty (without a
	// worker, it never is).
	deadline := loadEnd.Add(o.Drain)
	if o.NoWorker {
		deadline = loadEnd
	}
	for {
		s, ok := lag.read(ctx)
		if ok {
			lag.samples = append(lag.samples, s)
			if s.Pending == 0 {
				res.EmailDrainS = round2(time.Since(loadEnd).Seconds())
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil || srv.exited() {
			break
		}
		time.Sleep(o.Sample)
	}
	cpu2 := childCPU(srv.cmd.Process.Pid)
	disk1 := serveDisk(ctx, db, dsn, logPath)
	if srv.exited() {
		return nil, fmt.Errorf("the server exited during the load; its output is in %s (use --keep)", srv.outPath)
	}
	res.Samples = lag.samples
	if res.Created > 0 {
		n := float64(res.Created)
		res.CPUPerBookingUs = round2(float64((cpu1 - cpu0).Microseconds()) / n)
		res.CPUPerBookingAllUs = round2(float64((cpu2 - cpu0).Microseconds()) / n)
		res.DiskDBBytesPerBooking = round2(float64(disk1.db-disk0.db) / n)
		res.DiskWALBytesPerBooking = round2(float64(disk1.wal-disk0.wal) / n)
		res.DiskLogBytesPerBooking = round2(float64(disk1.log-disk0.log) / n)
	}
	if sink != nil {
		res.EmailsDelivered = int(sink.accepted.Load())
	}
	return res, nil
}

// serveLoad sends the bookings with vegeta, at o.Rate or as fast as the
// connections allow, and fills res with what came back.
func serveLoad(ctx context.Context, base string, tokens []string, tourIDs []int64, o ServeOptions, res *ServeResult) error {
	bodies := make([][]byte, len(tourIDs))
	for i, id := range tourIDs {
		bodies[i] = []byte(fmt.Sprintf(`{"tour_id":%d,"quantity":1}`, id))
	}
	headers := make([]http.Header, len(tokens))
	for i, t := range tokens {
		headers[i] = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + t}}
	}
	var n atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		i := n.Add(1)
		t.Method, t.URL = "POST", base+"/api/bookings"
		t.Body = bodies[mrand.IntN(len(bodies))]
		t.Header = headers[i%uint64(len(headers))]
		return nil
	}
	c := uint64(o.Concurrency)
	attacker := vegeta.NewAttacker(vegeta.Workers(c), vegeta.MaxWorkers(c), vegeta.Connections(o.Concurrency),
		vegeta.MaxConnections(o.Concurrency), vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second), vegeta.HTTP2(false))
	pacer := vegeta.Rate{Freq: o.Rate, Per: time.Second}
	var lat []time.Duration
	var first time.Time
	var last time.Time
	stop := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stop()
	for r := range attacker.Attack(vegeta.Targeter(targeter), pacer, o.Duration, "bookings") {
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if end := r.End(); end.After(last) {
			last = end
		}
		res.Requests++
		if r.Code == http.StatusCreated {
			res.Created++
			lat = append(lat, r.Latency)
			continue
		}
		if res.FirstFailure == "" {
			res.FirstFailure = strings.TrimSpace(fmt.Sprintf("%d %s %s", r.Code, r.Error, bytes.TrimSpace(r.Body)))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.Errors = res.Requests - res.Created
	if elapsed := last.Sub(first); elapsed > 0 {
		res.BookingsPerSec = round2(float64(res.Created) / elapsed.Seconds())
	}
	slices.Sort(lat)
	res.LatencyP50Ms = round2(percentileMS(lat, 50))
	res.LatencyP99Ms = round2(percentileMS(lat, 99))
	res.LatencyMaxMs = round2(percentileMS(lat, 100))
	return nil
}

// emailLag samples the emails queue: how many invoice jobs it holds
// (waiting or being sent: the queue is empty once the last one is sent)
// and how long the oldest waiting one has been due (to the second:
// available_at is in seconds).
type emailLag struct {
	db *store.DB
	// stats, on the redis connection, counts the queue (Redis, and the
	// outbox rows on their way there).
	stats   driver.Queues
	start   time.Time
	samples []ServeLagSample
}

func (l *emailLag) read(ctx context.Context) (ServeLagSample, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if l.stats != nil {
		stats, err := l.stats.QueueStats(ctx, &driver.QueueStatsParams{Queues: []string{"emails"}})
		if err != nil {
			return ServeLagSample{}, false
		}
		s := ServeLagSample{AtS: round2(time.Since(l.start).Seconds())}
		for _, q := range stats {
			if q.Queue == "emails" {
				s.Pending, s.LagS = q.Size(), q.OldestWait.Seconds()
			}
		}
		return s, true
	}
	var n int
	var oldest *int64
	err := l.db.QueryRowContext(ctx, store.Rebind(l.db.Dialect,
		"SELECT COUNT(*), MIN(CASE WHEN reserved_at IS NULL THEN available_at END) FROM jobs WHERE queue = ?"), "emails").Scan(&n, &oldest)
	if err != nil {
		return ServeLagSample{}, false
	}
	now := time.Now()
	s := ServeLagSample{AtS: round2(now.Sub(l.start).Seconds()), Pending: n}
	if oldest != nil {
		s.LagS = round2(max(0, float64(now.UnixMilli())/1000-float64(*oldest)))
	}
	return s, true
}

func (l *emailLag) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s, ok := l.read(ctx); ok {
			l.samples = append(l.samples, s)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveDiskUse is what the run keeps on disk.
type serveDiskUse struct{ db, wal, log int64 }

func serveDisk(ctx context.Context, db *store.DB, dsn, logPath string) serveDiskUse {
	var u serveDiskUse
	u.log = fileSize(logPath)
	switch db.Dialect {
	case store.SQLite:
		u.db, u.wal = fileSize(dsn), fileSize(dsn+"-wal")
	case store.PgSQL:
		_ = db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&u.db)
	case store.MySQL:
		rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
		if err != nil {
			return u
		}
		var tables []string
		for rows.Next() {
			var t string
			if rows.Scan(&t) == nil {
				tables = append(tables, t)
			}
		}
		rows.Close()
		// InnoDB's sizes are estimates refreshed by ANALYZE.
		if len(tables) > 0 {
			_, _ = db.ExecContext(ctx, "ANALYZE TABLE "+strings.Join(tables, ", "))
		}
		_ = db.QueryRowContext(ctx, "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&u.db)
	}
	return u
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// startServeChild runs the server binary with args in dir, with only env
// as its environment.
func startServeChild(server, dir string, env, args []string) (*serveChild, error) {
	outPath := filepath.Join(dir, "serve.out")
	out, err := os.Create(outPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(server, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", server, err)
	}
	s := &serveChild{cmd: cmd, outPath: outPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(s.done)
	}()
	return s, nil
}

// smtpSink is a real SMTP server on a loopback port that accepts every
// message, reads it whole and counts it.
type smtpSink struct {
	srv      *smtp.Server
	port     int
	accepted atomic.Int64
}

func startSMTPSink() (*smtpSink, error) {
	s := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.tripin.test"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	s.srv, s.port = srv, ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

func (s *smtpSink) close() { _ = s.srv.Close() }

type sinkSession struct {
	s   *smtpSink
	rcp int
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { ss.rcp++; return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if ss.rcp == 0 {
		return errors.New("no recipient")
	}
	ss.s.accepted.Add(1)
	return nil
}
func (ss *sinkSession) Reset()        { ss.rcp = 0 }
func (ss *sinkSession) Logout() error { return nil }
