// Package faultbench runs Tripin's fault matrix: for each fault (a worker
// SIGKILLed or SIGSTOPped past its lease, a server restart, connections
// killed in a loop, a pool exhausted by a blocker, an idle-in-transaction
// blocker on the jobs table, a full disk for SQLite, sustained load) it runs
// a real workload — real `tripin queue work` and `tripin serve` processes
// on a fresh database — injects the fault and measures jobs lost, jobs run
// twice, jobs failed because of the fault, recovery time and the disk
// high-water mark. `tripin bench faults` prints the matrix; TestFaultMatrix
// asserts on it.
//
// "Run twice" is read from a side-effect ledger the job itself writes
// (the fault_ledger table: one row when a run starts, one when it has
// done its work), never from the queue's own bookkeeping.
package faultbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The rows of the matrix, in order.
const (
	RowSIGKILL   = "sigkill"
	RowSIGSTOP   = "sigstop"
	RowRestart   = "restart"
	RowConnKill  = "connkill"
	RowPool      = "pool"
	RowIdleTx    = "idletx"
	RowFullDisk  = "fulldisk"
	RowSustained = "sustained"
)

// Rows lists every row name in the matrix's order.
var Rows = []string{RowSIGKILL, RowSIGSTOP, RowRestart, RowConnKill, RowPool, RowIdleTx, RowFullDisk, RowSustained}

// rowTitles are the rows' names in the printed matrix.
var rowTitles = map[string]string{
	RowSIGKILL:   "worker SIGKILLed",
	RowSIGSTOP:   "worker SIGSTOPped past its lease",
	RowRestart:   "server restart",
	RowConnKill:  "connections killed in a loop",
	RowPool:      "pool exhausted by a blocker",
	RowIdleTx:    "idle-in-transaction blocker on jobs",
	RowFullDisk:  "full disk (SQLite on tmpfs)",
	RowSustained: "sustained load",
}

// Options configure a run.
type Options struct {
	// Backend is sqlite, mysql, pgsql or redis (the queue on Redis, the
	// rest of the data on SQLite).
	Backend string
	// Bin is the tripin binary whose processes are the workload.
	Bin string
	// MySQLDSN and PgSQLDSN are the servers the rows that do not restart
	// one run against; the bench creates (and drops) a database of its own
	// in them and kills only that database's connections. RedisURL is the
	// Redis server of the redis backend; only connections named by the
	// bench are killed, and only keys under its own prefix are written.
	MySQLDSN, PgSQLDSN, RedisURL string
	// Long runs bigger counts and longer faults, and the server restart
	// row with a server the bench starts itself (or RestartCmd).
	Long bool
	// RestartCmd, when set, is a shell command that restarts the
	// configured server: the restart row then runs against it instead of
	// a server of the bench's own.
	RestartCmd string
	// Only, when set, runs these rows only.
	Only []string
	// Log receives progress lines (nil: none).
	Log io.Writer
	// Dir is where the bench keeps its files (default: a temporary
	// directory, removed at the end).
	Dir string
}

// Result is one row of the matrix.
type Result struct {
	Row   string `json:"row"`
	Fault string `json:"fault"`
	// Status is "ok" (measured), "n/a" (the fault does not apply to the
	// backend), "skipped" (it could not be set up here: Note says why) or
	// "error" (the run itself broke: Note has the error).
	Status string `json:"status"`
	Jobs   int    `json:"jobs"`
	Lost   int    `json:"lost"`
	Twice  int    `json:"run_twice"`
	Failed int    `json:"failed"`
	// RecoveryMs is the recovery time (see Recovery for what it measures);
	// -1 when the row has none.
	RecoveryMs int64  `json:"recovery_ms"`
	Recovery   string `json:"recovery"`
	// DiskHighBytes is the largest disk measure seen during the row.
	DiskHighBytes int64  `json:"disk_high_bytes"`
	Disk          string `json:"disk"`
	// Recovered is true when work resumed after the fault ended.
	Recovered bool `json:"recovered"`
	// TwiceUnexplained counts the jobs run twice that the fault cannot
	// explain: for the worker rows, jobs the faulted worker had not begun
	// or claimed before the fault;
	// for the others, jobs whose first run began after the fault ended.
	// The queue promises there are none: a job runs again only when its
	// lease passed before its outcome was recorded.
	TwiceUnexplained int `json:"run_twice_unexplained"`
	// Held is, for the worker rows, how many jobs the faulted worker held.
	Held int `json:"held,omitempty"`
	// Bookings, for the rows that book, counts the bookings created (201)
	// and refused; RefusedAnswer is the first refused booking's answer.
	Bookings      int    `json:"bookings,omitempty"`
	Refused       int    `json:"refused,omitempty"`
	RefusedAnswer string `json:"refused_answer,omitempty"`
	// InvoicesMissing counts the bookings whose invoice email was neither
	// sent, nor queued, nor failed at the end.
	InvoicesMissing int    `json:"invoices_missing,omitempty"`
	DurationMs      int64  `json:"duration_ms"`
	Note            string `json:"note,omitempty"`
}

// Matrix is a backend's whole run.
type Matrix struct {
	Backend string   `json:"backend"`
	Date    string   `json:"date"`
	Long    bool     `json:"long"`
	Rows    []Result `json:"rows"`
}

// sizes are the counts and durations of a run.
type sizes struct {
	jobs, ms, workers, concurrency, lease, tries int
	faultFor                                     time.Duration
	sustainedFor                                 time.Duration
}

func (o *Options) sizes() sizes {
	if o.Long {
		return sizes{jobs: 6000, ms: 50, workers: 3, concurrency: 8, lease: 4, tries: 5,
			faultFor: 15 * time.Second, sustainedFor: 60 * time.Second}
	}
	return sizes{jobs: 600, ms: 50, workers: 2, concurrency: 8, lease: 3, tries: 5,
		faultFor: 4 * time.Second, sustainedFor: 6 * time.Second}
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Run runs the matrix for o.Backend.
func Run(ctx context.Context, o Options) (*Matrix, error) {
	switch o.Backend {
	case "sqlite", "redis":
	case "mysql":
		if o.MySQLDSN == "" {
			return nil, fmt.Errorf("bench faults: the mysql backend needs a server DSN")
		}
	case "pgsql":
		if o.PgSQLDSN == "" {
			return nil, fmt.Errorf("bench faults: the pgsql backend needs a server DSN")
		}
	default:
		return nil, fmt.Errorf("bench faults: unknown backend %q (want sqlite, mysql, pgsql or redis)", o.Backend)
	}
	if o.Backend == "redis" && o.RedisURL == "" {
		return nil, fmt.Errorf("bench faults: the redis backend needs a Redis URL")
	}
	for _, r := range o.Only {
		if !slices.Contains(Rows, r) {
			return nil, fmt.Errorf("bench faults: unknown row %q (rows: %s)", r, strings.Join(Rows, ", "))
		}
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "tripin-bench-faults-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		// A server the bench starts may run as another user (PostgreSQL
		// refuses root) and must reach its data directory below this one.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		o.Dir = dir
	}
	m := &Matrix{Backend: o.Backend, Date: time.Now().UTC().Format(time.RFC3339), Long: o.Long}
	// The rows that need no server or disk of their own share one
	// database, emptied between them.
	sh := &shared{}
	defer sh.close()
	for _, row := range Rows {
		if len(o.Only) > 0 && !slices.Contains(o.Only, row) {
			continue
		}
		o.logf("bench faults: %s: %s …", o.Backend, rowTitles[row])
		start := time.Now()
		res := runRow(ctx, &o, row, sh)
		res.Row, res.Fault = row, rowTitles[row]
		if res.DurationMs == 0 {
			res.DurationMs = time.Since(start).Milliseconds()
		}
		o.logf("bench faults: %s: %s: %s lost=%d twice=%d failed=%d recovery=%dms disk=%d %s",
			o.Backend, row, res.Status, res.Lost, res.Twice, res.Failed, res.RecoveryMs, res.DiskHighBytes, res.Note)
		m.Rows = append(m.Rows, res)
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
	}
	return m, nil
}

func na(why string) Result { return Result{Status: "n/a", Note: why, RecoveryMs: -1} }

// shared is the database the ordinary rows share.
type shared struct{ in *instance }

func (sh *shared) get(ctx context.Context, o *Options) (*instance, error) {
	if sh.in == nil {
		dir, err := os.MkdirTemp(o.Dir, "shared-")
		if err != nil {
			return nil, err
		}
		in, err := newInstance(ctx, o, o.Backend, o.serverDSN(), o.RedisURL, dir, "")
		if err != nil {
			return nil, err
		}
		sh.in = in
		return in, nil
	}
	return sh.in, sh.in.reset(ctx)
}

func (sh *shared) close() {
	if sh.in != nil {
		sh.in.close()
	}
}

func runRow(ctx context.Context, o *Options, row string, sh *shared) Result {
	dir, err := os.MkdirTemp(o.Dir, row+"-")
	if err != nil {
		return Result{Status: "error", Note: err.Error(), RecoveryMs: -1}
	}
	var res Result
	switch row {
	case RowRestart:
		res = runRestart(ctx, o, dir)
	case RowFullDisk:
		if o.Backend != "sqlite" {
			return na("SQLite only")
		}
		res = runFullDisk(ctx, o, dir)
	case RowSustained:
		in, err := sh.get(ctx, o)
		if err != nil {
			return Result{Status: "error", Note: err.Error(), RecoveryMs: -1}
		}
		in.logDir = dir
		res = runSustained(ctx, in)
	default:
		if row == RowConnKill && o.Backend == "sqlite" {
			return na("SQLite has no server connections to kill")
		}
		if row == RowIdleTx && o.Backend == "redis" {
			return na("Redis has no transactions or row locks on jobs")
		}
		in, err := sh.get(ctx, o)
		if err != nil {
			return Result{Status: "error", Note: err.Error(), RecoveryMs: -1}
		}
		in.logDir = dir
		res = runProcRow(ctx, in, row)
	}
	return res
}

func (o *Options) serverDSN() string {
	switch o.Backend {
	case "mysql":
		return o.MySQLDSN
	case "pgsql":
		return o.PgSQLDSN
	}
	return ""
}

// diskSampler records the largest disk measure every 250ms.
type diskSampler struct {
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
	high     int64
	lastErr  error
}

func startDiskSampler(ctx context.Context, read func(context.Context) (int64, error)) *diskSampler {
	s := &diskSampler{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			n, err := read(rctx)
			cancel()
			if err == nil {
				s.high = max(s.high, n)
			} else {
				s.lastErr = err
			}
			select {
			case <-s.stopCh:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *diskSampler) stop() int64 {
	s.stopOnce.Do(func() { close(s.stopCh) })
	<-s.done
	return s.high
}

// ledgerRow is one row of the side-effect ledger.
type ledgerRow struct {
	key     string
	pid     int
	attempt int
	phase   string
	at      int64 // unix ms
}

func (in *instance) ledger(ctx context.Context) ([]ledgerRow, error) {
	rows, err := in.db.QueryContext(ctx, "SELECT job_key, pid, attempt, phase, at_ms FROM "+LedgerTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledgerRow
	for rows.Next() {
		var r ledgerRow
		if err := rows.Scan(&r.key, &r.pid, &r.attempt, &r.phase, &r.at); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// failedKeys returns the uuids of failed_jobs.
func (in *instance) failedKeys(ctx context.Context) (map[string]bool, error) {
	rows, err := in.db.QueryContext(ctx, "SELECT uuid FROM failed_jobs")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// tally counts lost, run-twice and failed jobs of n pushed, from the
// ledger, failed_jobs and what the queue still holds.
func tally(ledger []ledgerRow, failed map[string]bool, n, pending int) (lost, twice, nfailed int) {
	done := map[string]int{}
	for _, r := range ledger {
		if r.phase == phaseDone {
			done[r.key]++
		}
	}
	seen := 0
	for k, c := range done {
		if c > 1 {
			twice++
		}
		if !failed[k] {
			seen++
		}
	}
	lost = n - seen - len(failed) - pending
	return max(lost, 0), twice, len(failed)
}

// longestStall is the longest time from since to the last completion in
// which no job completed: the first completion after since counts from
// since.
func longestStall(ledger []ledgerRow, since time.Time) time.Duration {
	var at []int64
	for _, r := range ledger {
		if r.phase == phaseDone && r.at >= since.UnixMilli() {
			at = append(at, r.at)
		}
	}
	if len(at) == 0 {
		return -1
	}
	sort.Slice(at, func(i, j int) bool { return at[i] < at[j] })
	prev, longest := since.UnixMilli(), int64(0)
	for _, a := range at {
		longest = max(longest, a-prev)
		prev = a
	}
	return time.Duration(longest) * time.Millisecond
}

// twiceUnexplained counts the jobs done more than once whose first run
// began at or after t, or, when held is set, that are not in held.
func twiceUnexplained(ledger []ledgerRow, t time.Time, held map[string]bool) int {
	first := map[string]int64{}
	done := map[string]int{}
	for _, r := range ledger {
		switch r.phase {
		case phaseStart:
			if at, ok := first[r.key]; !ok || r.at < at {
				first[r.key] = r.at
			}
		case phaseDone:
			done[r.key]++
		}
	}
	n := 0
	for k, c := range done {
		if c > 1 && ((held == nil && first[k] >= t.UnixMilli()) || (held != nil && !held[k])) {
			n++
		}
	}
	return n
}

func lastDone(ledger []ledgerRow) time.Time {
	var last int64
	for _, r := range ledger {
		if r.phase == phaseDone {
			last = max(last, r.at)
		}
	}
	return time.UnixMilli(last)
}
