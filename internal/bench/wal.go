package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
)

// walBenchTarget is the most WAL the SQLite store should ever keep on disk
// under sustained booking load; the plot draws it as a dashed line.
const walBenchTarget = 64 << 20

// WALResult is the line `bench wal --json` prints.
type WALResult struct {
	Label       string  `json:"label"`
	Server      string  `json:"server"`
	Generator   string  `json:"generator"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	Tours       int     `json:"tours"`
	// Requests counts every booking request sent; Created those answered
	// 201. Errors are the rest (a refused booking or a transport error).
	Requests       int     `json:"requests"`
	Created        int     `json:"created"`
	Errors         int     `json:"errors"`
	RequestsPerSec float64 `json:"bookings_per_sec"`
	LatencyP50Ms   float64 `json:"latency_p50_ms"`
	LatencyP99Ms   float64 `json:"latency_p99_ms"`
	LatencyMaxMs   float64 `json:"latency_max_ms"`
	// Scrapes counts the GET /metrics requests made during the load.
	Scrapes int `json:"scrapes"`
	// WALMaxBytes is the largest size of the -wal file seen during the
	// load and the settle time after it; WALEndBytes the size at the end
	// of the settle time, with the server still running.
	WALMaxBytes int64   `json:"wal_max_bytes"`
	WALEndBytes int64   `json:"wal_end_bytes"`
	Samples     int     `json:"samples"`
	SampleMs    float64 `json:"sample_ms"`
	// PerSecondMaxMiB is the largest WAL size seen in each second since
	// the load began, settle time included.
	PerSecondMaxMiB []float64 `json:"per_second_max_mib"`
	LoadAvg         string    `json:"load_avg,omitempty"`
	FirstFailure    string    `json:"first_failure,omitempty"`
}

// walSample is the WAL file's size at a moment of the run.
type walSample struct {
	at   time.Duration // since the load began
	size int64
}

// WALOptions configure `bench wal`.
type WALOptions struct {
	// Server is the tripin binary run as the server; Label names the run
	// in the CSV file and the plot.
	Server, Label string
	// Generator is "go" (this process) or "wrk".
	Generator string
	// Concurrency clients book on Tours tours for Duration; the WAL is
	// sampled every Sample, and for Settle after the load.
	Concurrency, Tours       int
	Duration, Settle, Sample time.Duration
	// Scrape is how often GET /metrics is read during the load (0: never).
	Scrape time.Duration
	// CSV and SVG, when set, are the files the samples and the plot go to;
	// PlotWith are earlier runs' CSV files drawn beside this one.
	CSV, SVG string
	PlotWith []string
	// PlotOnly runs nothing: it draws the PlotWith files into SVG.
	PlotOnly bool
	// Keep keeps the run's directory (database, logs, server output).
	Keep bool
	// JSON prints the result as one JSON line.
	JSON bool
	// AdminEmail and CustomerEmail are the demo accounts a fresh local
	// install seeds, both with DemoPassword.
	AdminEmail, CustomerEmail, DemoPassword string
}

// WAL runs `tripin serve` on a fresh SQLite file, loads POST
// /api/bookings from outside, samples the size of the write-ahead log and
// prints the result on stdout; with o.PlotOnly, it only draws earlier
// runs.
func WAL(ctx context.Context, o WALOptions, stdout, stderr io.Writer) error {
	var overlays []walSeries
	for _, p := range o.PlotWith {
		s, err := readWALCSV(p)
		if err != nil {
			return err
		}
		overlays = append(overlays, s)
	}
	if o.PlotOnly {
		if err := os.WriteFile(o.SVG, walPlotSVG(overlays, o.Duration), 0o644); err != nil {
			return fmt.Errorf("bench wal: %w", err)
		}
		return nil
	}
	res, samples, err := benchWAL(ctx, stderr, o)
	if err != nil {
		return err
	}
	series := walSeries{label: o.Label, samples: samples}
	if o.CSV != "" {
		if err := writeWALCSV(o.CSV, series); err != nil {
			return err
		}
	}
	if o.SVG != "" {
		if err := os.WriteFile(o.SVG, walPlotSVG(append(overlays, series), o.Duration), 0o644); err != nil {
			return fmt.Errorf("bench wal: %w", err)
		}
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printWALBench(stdout, res)
	return nil
}

func printWALBench(w io.Writer, res *WALResult) {
	fmt.Fprintf(w, "bench wal: %s, %s generator, %d clients for %.0f s, %d tours, /metrics scraped %d times\n",
		res.Label, res.Generator, res.Concurrency, res.DurationS, res.Tours, res.Scrapes)
	fmt.Fprintf(w, "  bookings  %.0f/s  p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d requests, %d errors)\n",
		res.RequestsPerSec, res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyMaxMs, res.Requests, res.Errors)
	fmt.Fprintf(w, "  WAL       max %.1f MiB, %.1f MiB at the end (%d samples every %.0f ms)\n",
		mib(res.WALMaxBytes), mib(res.WALEndBytes), res.Samples, res.SampleMs)
	fmt.Fprintf(w, "  host load average at start: %s\n", res.LoadAvg)
	if res.FirstFailure != "" {
		fmt.Fprintf(w, "  first failure: %s\n", res.FirstFailure)
	}
	fmt.Fprintln(w, "  second  WAL max MiB")
	for i, m := range res.PerSecondMaxMiB {
		fmt.Fprintf(w, "  %6d  %11.1f\n", i, m)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// benchWAL starts the server on a fresh database, prepares tours and a
// customer token, runs the load while sampling the WAL and stops the
// server.
func benchWAL(ctx context.Context, stderr io.Writer, o WALOptions) (*WALResult, []walSample, error) {
	dir, err := os.MkdirTemp("", "tripin-bench-wal-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench wal: %w", err)
	}
	if o.Keep {
		fmt.Fprintf(stderr, "bench wal: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, nil, err
	}
	dbPath := filepath.Join(dir, "tripin.db")
	srv, err := startWALBenchServer(o.Server, dir, dbPath, addr)
	if err != nil {
		return nil, nil, err
	}
	defer srv.stop()
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.Concurrency + 2, MaxIdleConnsPerHost: o.Concurrency + 2, DisableCompression: true,
	}}
	if err := waitHealthy(ctx, client, base, srv, 2*time.Minute); err != nil {
		return nil, nil, err
	}
	adminToken, err := walBenchLogin(ctx, client, base, o.AdminEmail, o.DemoPassword)
	if err != nil {
		return nil, nil, err
	}
	tourIDs, err := walBenchTours(ctx, client, base, adminToken, o.Tours)
	if err != nil {
		return nil, nil, err
	}
	token, err := walBenchLogin(ctx, client, base, o.CustomerEmail, o.DemoPassword)
	if err != nil {
		return nil, nil, err
	}

	res := &WALResult{
		Label: o.Label, Server: o.Server, Generator: o.Generator, Concurrency: o.Concurrency,
		DurationS: o.Duration.Seconds(), Tours: o.Tours, SampleMs: float64(o.Sample.Milliseconds()),
		LoadAvg: hostLoadAvg(),
	}
	start := time.Now()
	sampler := startWALSampler(dbPath+"-wal", o.Sample, start)
	var scrapes atomic.Int64
	scrapeCtx, stopScrapes := context.WithCancel(ctx)
	scrapeDone := make(chan struct{})
	go func() {
		defer close(scrapeDone)
		if o.Scrape > 0 {
			walBenchScrape(scrapeCtx, client, base, o.Scrape, &scrapes)
		}
	}()

	var loadErr error
	if o.Generator == "wrk" {
		loadErr = walBenchWrk(ctx, dir, base, token, tourIDs, o, res)
	} else {
		loadErr = walBenchGo(ctx, base, token, tourIDs, o, res)
	}
	stopScrapes()
	<-scrapeDone
	res.Scrapes = int(scrapes.Load())
	if loadErr == nil && o.Settle > 0 {
		select {
		case <-ctx.Done():
			loadErr = ctx.Err()
		case <-time.After(o.Settle):
		}
	}
	samples := sampler.stop()
	if loadErr != nil {
		return nil, nil, loadErr
	}
	if srv.exited() {
		return nil, nil, fmt.Errorf("bench wal: the server exited during the load; its output is in %s", srv.outPath)
	}
	res.Samples = len(samples)
	for _, s := range samples {
		res.WALMaxBytes = max(res.WALMaxBytes, s.size)
	}
	if len(samples) > 0 {
		res.WALEndBytes = samples[len(samples)-1].size
	}
	res.PerSecondMaxMiB = perSecondMax(samples)
	return res, samples, nil
}

// serveChild is a `tripin serve` child process under load (bench wal,
// bench serve).
type serveChild struct {
	cmd     *exec.Cmd
	outPath string
	done    chan struct{}
}

// startWALBenchServer runs `server serve` in dir, on the SQLite file
// dbPath, with the configuration of a fresh local install (APP_ENV=local
// seeds the demo accounts), the embedded worker and scheduler on. The
// child's environment is only what is set here, and dir has no .env, so
// the caller's configuration cannot leak into the measurement.
func startWALBenchServer(server, dir, dbPath, addr string) (*serveChild, error) {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir(),
		"APP_ENV=local", "APP_DEBUG=false", "DB_CONNECTION=sqlite", "DB_DATABASE=" + dbPath,
		"QUEUE_CONNECTION=database", "MAIL_MAILER=log", "LOG_LEVEL=warn",
		// A load test measures bookings, not the fair-use limits.
		"BOOKING_MAX_PENDING_PER_USER=0", "BOOKING_RATE_LIMIT=0", "BOOKING_MAX_QUANTITY=0",
		"LOG_FILE=" + filepath.Join(dir, "logs", "tripin.log"),
		// A load generator is one client: the limits meant for real
		// clients would measure themselves.
		"LOGIN_RATE_LIMIT=0", "LOGIN_IP_RATE_LIMIT=0", "REGISTER_RATE_LIMIT=0",
	}
	s, err := startServeChild(server, dir, env, []string{"serve", "--addr", addr})
	if err != nil {
		return nil, fmt.Errorf("bench wal: %w", err)
	}
	return s, nil
}

func (s *serveChild) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop asks the server to shut down as an operator would (SIGTERM) and
// kills it if it has not stopped within a minute.
func (s *serveChild) stop() {
	if s.exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func waitHealthy(ctx context.Context, client *http.Client, base string, srv *serveChild, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/healthz", nil)
		if err != nil {
			return fmt.Errorf("bench wal: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if srv.exited() {
			return fmt.Errorf("bench wal: the server exited at start; its output is in %s (use --keep)", srv.outPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench wal: the server did not answer /healthz within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// walBenchPost sends a JSON request and decodes a JSON answer of the
// expected status into out.
func walBenchPost(ctx context.Context, client *http.Client, url, token string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(rb)))
	}
	return json.Unmarshal(rb, out)
}

// walBenchLogin logs in as one of the demo accounts the server seeded.
func walBenchLogin(ctx context.Context, client *http.Client, base, email, password string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := walBenchPost(ctx, client, base+"/api/login", "", map[string]string{"email": email, "password": password}, http.StatusOK, &out)
	if err != nil || out.Token == "" {
		return "", fmt.Errorf("bench wal: log in as %s: %v", email, err)
	}
	return out.Token, nil
}

// walBenchTours creates n tours big enough never to sell out during the
// run, through the admin API.
func walBenchTours(ctx context.Context, client *http.Client, base, adminToken string, n int) ([]int64, error) {
	date := time.Now().AddDate(0, 2, 0).Format(booking.DateLayout)
	var ids []int64
	for i := 0; i < n; i++ {
		var out struct {
			Data struct {
				ID int64 `json:"id"`
			} `json:"data"`
		}
		body := map[string]any{"title": fmt.Sprintf("WAL bench tour %d", i+1), "destination": "Bali",
			"departure_date": date, "price": 1_000_000, "capacity": booking.MaxTourCapacity}
		if err := walBenchPost(ctx, client, base+"/api/admin/tours", adminToken, body, http.StatusCreated, &out); err != nil {
			return nil, fmt.Errorf("bench wal: create tour: %w", err)
		}
		ids = append(ids, out.Data.ID)
	}
	return ids, nil
}

// walBenchScrape reads /metrics every interval until ctx ends, as a
// Prometheus server would: each scrape reads the database.
func walBenchScrape(ctx context.Context, client *http.Client, base string, every time.Duration, n *atomic.Int64) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
		if err != nil {
			return
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			n.Add(1)
		}
	}
}

// walSampler reads the WAL file's size at a fixed interval.
type walSampler struct {
	stopc   chan struct{}
	done    chan struct{}
	samples []walSample
}

func startWALSampler(path string, every time.Duration, start time.Time) *walSampler {
	s := &walSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		s.samples = append(s.samples, walSample{at: time.Since(start), size: size})
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		read()
		for {
			select {
			case <-s.stopc:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return s
}

func (s *walSampler) stop() []walSample {
	close(s.stopc)
	<-s.done
	return s.samples
}

// perSecondMax is the largest sample of each second, in MiB.
func perSecondMax(samples []walSample) []float64 {
	var out []float64
	for _, s := range samples {
		i := int(s.at / time.Second)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i] = max(out[i], math.Round(mib(s.size)*10)/10)
	}
	return out
}

// walBenchGo runs the load from this process: concurrency clients, each
// posting bookings back to back over its own keep-alive connection.
func walBenchGo(ctx context.Context, base, token string, tourIDs []int64, o WALOptions, res *WALResult) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.Concurrency, MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency,
		DisableCompression: true,
	}}
	bodies := make([][]byte, len(tourIDs))
	for i, id := range tourIDs {
		bodies[i] = []byte(fmt.Sprintf(`{"tour_id":%d,"quantity":1}`, id))
	}
	var firstFailure sync.Once
	op := func(int) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/bookings", bytes.NewReader(bodies[mrand.IntN(len(bodies))]))
		if err != nil {
			return false, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			firstFailure.Do(func() { res.FirstFailure = err.Error() })
			return false, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			firstFailure.Do(func() { res.FirstFailure = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body))) })
			return false, nil
		}
		return true, nil
	}
	p, err := bookingBenchLoad(ctx, o.Concurrency, o.Duration, op)
	if err != nil {
		return fmt.Errorf("bench wal: %w", err)
	}
	res.Requests, res.Created, res.Errors = p.total, p.ok, p.total-p.ok
	res.RequestsPerSec = round2(float64(p.ok) / p.elapsed.Seconds())
	res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyMaxMs = p.percentile(50), p.percentile(99), p.percentile(100)
	return nil
}

// walBenchLua is the wrk script: every connection posts bookings with the
// customer's bearer token (logged in once, by the benchmark, and handed
// over in TRIPIN_TOKEN) to a random tour of TRIPIN_TOURS.
const walBenchLua = `-- wrk script written by 'tripin bench wal --generator wrk'.
local token = os.getenv("TRIPIN_TOKEN")
local tours = {}
for id in string.gmatch(os.getenv("TRIPIN_TOURS") or "", "%d+") do
  tours[#tours + 1] = id
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}

request = function()
  local body = '{"tour_id":' .. tours[math.random(#tours)] .. ',"quantity":1}'
  return wrk.format("POST", "/api/bookings", headers, body)
end

local created, refused = 0, 0
response = function(status, headers, body)
  if status == 201 then created = created + 1 else refused = refused + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("TRIPIN requests=%d errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`

var wrkSummary = regexp.MustCompile(`TRIPIN requests=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+)`)

// walBenchWrk runs the load with wrk, two threads sharing the connections.
func walBenchWrk(ctx context.Context, dir, base, token string, tourIDs []int64, o WALOptions, res *WALResult) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("bench wal: --generator wrk needs wrk on PATH (Debian: apt-get install wrk)")
	}
	script := filepath.Join(dir, "booking.lua")
	if err := os.WriteFile(script, []byte(walBenchLua), 0o644); err != nil {
		return fmt.Errorf("bench wal: %w", err)
	}
	ids := make([]string, len(tourIDs))
	for i, id := range tourIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	secs := max(1, int(math.Round(o.Duration.Seconds())))
	cmd := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(min(2, o.Concurrency)), "-c", strconv.Itoa(o.Concurrency),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "30s", "-s", script, base)
	cmd.Env = append(os.Environ(), "TRIPIN_TOKEN="+token, "TRIPIN_TOURS="+strings.Join(ids, ","))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench wal: wrk: %w: %s", err, strings.TrimSpace(string(out)))
	}
	m := wrkSummary.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("bench wal: wrk printed no summary: %s", strings.TrimSpace(string(out)))
	}
	n := make([]int, 5)
	for i := range n {
		n[i], _ = strconv.Atoi(string(m[i+1]))
	}
	res.Requests, res.Errors = n[0], n[1]
	res.Created = res.Requests - res.Errors
	res.RequestsPerSec = round2(float64(res.Created) / float64(secs))
	res.LatencyP50Ms = round2(float64(n[2]) / 1000)
	res.LatencyP99Ms = round2(float64(n[3]) / 1000)
	res.LatencyMaxMs = round2(float64(n[4]) / 1000)
	if res.Errors > 0 {
		res.FirstFailure = "wrk counted non-2xx answers or socket errors"
	}
	return nil
}

// walSeries is one run's samples, for the CSV file and the plot.
type walSeries struct {
	label   string
	samples []walSample
}

// writeWALCSV writes a series: a comment line with its label, a header,
// then one line per sample (seconds since the load began, bytes).
func writeWALCSV(path string, s walSeries) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nseconds,wal_bytes\n", s.label)
	for _, x := range s.samples {
		fmt.Fprintf(&b, "%.3f,%d\n", x.at.Seconds(), x.size)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("bench wal: %w", err)
	}
	return nil
}

// readWALCSV reads a file written by writeWALCSV.
func readWALCSV(path string) (walSeries, error) {
	f, err := os.Open(path)
	if err != nil {
		return walSeries{}, fmt.Errorf("bench wal: --plot-with: %w", err)
	}
	defer f.Close()
	s := walSeries{label: filepath.Base(path)}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "" || t == "seconds,wal_bytes":
			continue
		case strings.HasPrefix(t, "#"):
			s.label = strings.TrimSpace(strings.TrimPrefix(t, "#"))
			continue
		}
		sec, size, ok := strings.Cut(t, ",")
		secs, err1 := strconv.ParseFloat(sec, 64)
		n, err2 := strconv.ParseInt(size, 10, 64)
		if !ok || err1 != nil || err2 != nil || secs < 0 || n < 0 {
			return walSeries{}, fmt.Errorf("bench wal: --plot-with %s:%d: want seconds,bytes", path, line)
		}
		s.samples = append(s.samples, walSample{at: time.Duration(secs * float64(time.Second)), size: n})
	}
	if err := sc.Err(); err != nil {
		return walSeries{}, fmt.Errorf("bench wal: --plot-with: %w", err)
	}
	return s, nil
}

// walPlotSVG draws the series as lines of WAL size over time, the 64 MiB
// target as a dashed line and the end of the load as a dotted one. The
// vertical scale is logarithmic so that a bounded WAL of a few MiB and an
// unbounded one of gigabytes are both readable on one plot.
func walPlotSVG(series []walSeries, load time.Duration) []byte {
	const (
		w, h                     = 860.0, 420.0
		left, right, top, bottom = 70.0, 200.0, 30.0, 50.0
		minMiB                   = 0.1
	)
	maxT, maxMiB := load.Seconds(), mib(walBenchTarget)
	for _, s := range series {
		for _, x := range s.samples {
			maxT = max(maxT, x.at.Seconds())
			maxMiB = max(maxMiB, mib(x.size))
		}
	}
	// Decades from 0.1 MiB to the first power of ten above the largest
	// sample.
	decades := math.Ceil(math.Log10(maxMiB / minMiB))
	x := func(t float64) float64 { return left + t/maxT*(w-left-right) }
	y := func(m float64) float64 {
		m = max(m, minMiB)
		return h - bottom - math.Log10(m/minMiB)/decades*(h-top-bottom)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="14">SQLite WAL size under POST /api/bookings load (log scale)</text>`+"\n", left)
	for d := 0.0; d <= decades; d++ {
		m := minMiB * math.Pow(10, d)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(m), w-right, y(m))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s MiB</text>`+"\n", left-6, y(m)+4, strconv.FormatFloat(m, 'f', -1, 64))
	}
	step := 1.0
	for _, st := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if step = st; maxT/st <= 12 {
			break
		}
	}
	for t := 0.0; t <= maxT; t += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x(t), top, x(t), h-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", x(t), h-bottom+16, t)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">seconds since the load began</text>`+"\n", x(maxT/2), h-12)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/>`+"\n",
		left, y(mib(walBenchTarget)), w-right, y(mib(walBenchTarget)))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#c00">64 MiB target</text>`+"\n", w-right+6, y(mib(walBenchTarget))+4)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="2 3"/>`+"\n",
		x(load.Seconds()), top, x(load.Seconds()), h-bottom)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#888" text-anchor="end">load ends</text>`+"\n", x(load.Seconds())-4, top+12)
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"}
	for i, s := range series {
		c := colors[i%len(colors)]
		pts := make([]string, 0, len(s.samples))
		for _, p := range s.samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.at.Seconds()), y(mib(p.size))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		peak := slices.MaxFunc(append([]walSample{{}}, s.samples...), func(a, b walSample) int { return cmp.Compare(a.size, b.size) })
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s (max %.1f MiB)</text>`+"\n",
			w-right+6, top+30+float64(i)*18, c, svgEscape(s.label), mib(peak.size))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func svgEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
