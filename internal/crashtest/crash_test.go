package crashtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// longTestsEnv enables the tests that take minutes rather than seconds.
const longTestsEnv = "TRIPIN_LONG_TESTS"

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// tripinBinary builds cmd/tripin once per test run and returns its path.
func tripinBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tripin-crashtest-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "tripin")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/tripintravel/tripin/cmd/tripin")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tripin: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// backend is a fresh, migrated database and a working directory for the
// processes that use it.
type backend struct {
	dialect store.Dialect
	dsn     string
	db      *store.DB
	dir     string
	bin     string
	// redisURL and redisPrefix, when set, put the queue on Redis.
	redisURL, redisPrefix string
}

func newBackend(t *testing.T, d store.Dialect) *backend {
	t.Helper()
	bin := tripinBinary(t)
	dsn := storetest.NewDSN(t, d)
	ctx := context.Background()
	db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &backend{dialect: d, dsn: dsn, db: db, dir: t.TempDir(), bin: bin}
}

// env is the environment of a tripin process on this backend: the test's
// own, less every Tripin key, plus the database and a lease of retryAfter
// seconds.
func (b *backend) env(retryAfter int) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(config.Keys, k) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"APP_ENV=testing",
		"DB_CONNECTION="+string(b.dialect),
		"LOG_LEVEL=warn",
		"LOG_FILE="+filepath.Join(b.dir, "tripin.log"),
		"DB_QUEUE_RETRY_AFTER="+strconv.Itoa(retryAfter),
	)
	if b.redisURL != "" {
		env = append(env, "QUEUE_CONNECTION=redis", "REDIS_URL="+b.redisURL, "REDIS_QUEUE_PREFIX="+b.redisPrefix)
	} else {
		env = append(env, "QUEUE_CONNECTION=database")
	}
	if b.dialect == store.SQLite {
		return append(env, "DB_DATABASE="+b.dsn)
	}
	return append(env, "DB_URL="+b.dsn)
}

// run runs a short tripin command and fails the test if it fails.
func (b *backend) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Dir, cmd.Env = b.dir, b.env(90)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tripin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (b *backend) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRowContext(context.Background(), b.db.Rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (b *backend) ids(t *testing.T, query string, args ...any) map[int64]bool {
	t.Helper()
	rows, err := b.db.QueryContext(context.Background(), b.db.Rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// worker is a running `tripin queue work` process whose stdout (JSON job
// lines) and stderr go to files.
type worker struct {
	name    string
	cmd     *exec.Cmd
	outPath string
	errPath string
	done    chan struct{}
	err     error
}

func (b *backend) startWorker(t *testing.T, name string, retryAfter int, args ...string) *worker {
	t.Helper()
	// Each worker logs to a file of its own, after the shared one.
	return startProc(t, b.dir, name, append([]string{b.bin, "queue", "work"}, args...),
		append(b.env(retryAfter), "LOG_FILE="+filepath.Join(b.dir, name+".log")))
}

// startProc runs argv in dir with env as the process called name, its
// output in name.out and name.err there; it dies with the test process
// and is killed at cleanup if it still runs.
func startProc(t *testing.T, dir, name string, argv, env []string) *worker {
	t.Helper()
	w := &worker{
		name:    name,
		outPath: filepath.Join(dir, name+".out"),
		errPath: filepath.Join(dir, name+".err"),
		done:    make(chan struct{}),
	}
	stdout, err := os.Create(w.outPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(w.errPath)
	if err != nil {
		t.Fatal(err)
	}
	w.cmd = exec.Command(argv[0], argv[1:]...)
	w.cmd.Dir, w.cmd.Env = dir, env
	w.cmd.Stdout, w.cmd.Stderr = stdout, stderr
	killWithParent(w.cmd)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		w.err = w.cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		if !w.exited() {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *worker) stderr() string {
	b, _ := os.ReadFile(w.errPath)
	return string(b)
}

// stop sends sig and waits up to timeout for the process to exit.
func (w *worker) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal %s: %v", w.name, err)
	}
	select {
	case <-w.done:
		return w.err
	case <-time.After(timeout):
		_ = w.cmd.Process.Kill()
		<-w.done
		t.Fatalf("%s did not exit within %s of %s\nstderr:\n%s", w.name, timeout, sig, w.stderr())
		return nil
	}
}

// jobLine is one JSON line of `queue work --json`.
type jobLine struct {
	Status  string `json:"status"`
	ID      int64  `json:"id"`
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
}

// lines reads the worker's JSON job lines. A killed worker's last line
// may be cut short; lines that do not parse are skipped.
func (w *worker) lines(t *testing.T) []jobLine {
	t.Helper()
	f, err := os.Open(w.outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []jobLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l jobLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.ID != 0 {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after timeout or as
// soon as one of workers exits on its own.
func waitFor(t *testing.T, timeout time.Duration, what string, workers []*worker, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		for _, w := range workers {
			if w.exited() {
				t.Fatalf("waiting for %s: %s exited early (%v)\nstderr:\n%s", what, w.name, w.err, w.stderr())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errLimit reports the first ten errors of a check over many jobs and
// then only their number.
type errLimit struct {
	t *testing.T
	n int
}

func (e *errLimit) Errorf(format string, args ...any) {
	e.t.Helper()
	if e.n++; e.n <= 10 {
		e.t.Errorf(format, args...)
	}
}

func (e *errLimit) close() {
	e.t.Helper()
	if e.n > 10 {
		e.t.Errorf("… and %d more errors like these", e.n-10)
	}
}

// TestKillWorker runs 20,000 jobs through three worker processes, kills
// one with SIGKILL a third of the way through and starts a replacement.
// Every job must complete, none may fail, and only the jobs the killed
// process held may run twice.
func TestKillWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		const (
			n          = 20000
			retryAfter = 5 // seconds: the killed worker's jobs come back soon
		)
		b := newBackend(t, d)
		// Three tries: the attempt the killed worker was making counts (as
		// in Laravel), and the job must still complete on the next one.
		b.run(t, "queue", "push", "sleep", "--args", `{"ms":2}`, "--tries", "3", "--count", strconv.Itoa(n))
		pushed := b.ids(t, "SELECT id FROM jobs")
		if len(pushed) != n {
			t.Fatalf("pushed %d jobs, want %d", len(pushed), n)
		}

		args := []string{"--concurrency", "16", "--json", "--sleep", "1"}
		workers := []*worker{
			b.startWorker(t, "w1", retryAfter, args...),
			b.startWorker(t, "w2", retryAfter, args...),
			b.startWorker(t, "w3", retryAfter, args...),
		}
		start := time.Now()
		// Kill when a third is done and the victim holds jobs, so that the
		// kill interrupts work in progress.
		victim := workers[0]
		victimID := "%:" + strconv.Itoa(victim.cmd.Process.Pid) + ":%"
		waitFor(t, 3*time.Minute, "a third of the jobs to finish", workers, func() bool {
			return b.count(t, "SELECT COUNT(*) FROM jobs") <= n*2/3 &&
				b.count(t, "SELECT COUNT(*) FROM jobs WHERE reserved_at IS NOT NULL AND reserved_by LIKE ?", victimID) > 0
		})

		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.done
		// What the dead process held: its reservations stay in the table
		// until their lease runs out. A claim the server was running when
		// the client died still commits, so look a moment later (well
		// within the lease).
		time.Sleep(500 * time.Millisecond)
		pid := victim.cmd.Process.Pid
		held := b.ids(t, "SELECT id FROM jobs WHERE reserved_at IS NOT NULL AND reserved_by LIKE ?", victimID)
		afterKill := b.ids(t, "SELECT id FROM jobs")
		t.Logf("killed %s (pid %d) after %s with %d jobs left; it held %d", victim.name, pid, time.Since(start).Round(time.Millisecond), len(afterKill), len(held))

		workers = append(workers[1:], b.startWorker(t, "w1-restarted", retryAfter, args...))
		waitFor(t, 3*time.Minute, "every job to finish", workers, func() bool {
			return b.count(t, "SELECT COUNT(*) FROM jobs") == 0
		})
		t.Logf("drained %d jobs in %s", n, time.Since(start).Round(time.Millisecond))
		for _, w := range workers {
			if err := w.stop(t, syscall.SIGTERM, time.Minute); err != nil {
				t.Errorf("%s: exit after SIGTERM: %v\nstderr:\n%s", w.name, err, w.stderr())
			}
		}
		if f := b.count(t, "SELECT COUNT(*) FROM failed_jobs"); f != 0 {
			t.Errorf("failed_jobs has %d rows, want 0", f)
		}

		// The survivors exited cleanly, so their job lines are complete;
		// the killed process's last ≤50ms of lines may be lost.
		errs := &errLimit{t: t}
		doneBy := map[int64]int{}    // job → completed runs seen, all processes
		survived := map[int64]bool{} // job → completed by a survivor
		victimDone := 0
		for _, w := range append([]*worker{victim}, workers...) {
			for _, l := range w.lines(t) {
				if !pushed[l.ID] {
					t.Fatalf("%s ran job %d, which was never pushed", w.name, l.ID)
				}
				if l.Status == "failed" || l.Status == "fail" {
					errs.Errorf("%s: job %d attempt %d failed: %s", w.name, l.ID, l.Attempt, l.Error)
				}
				if l.Attempt > 1 && !held[l.ID] {
					errs.Errorf("%s: job %d ran attempt %d but the killed worker did not hold it", w.name, l.ID, l.Attempt)
				}
				if l.Status != "done" {
					continue
				}
				doneBy[l.ID]++
				if w == victim {
					victimDone++
				} else {
					survived[l.ID] = true
				}
			}
		}
		if victimDone == 0 {
			t.Errorf("the killed worker had completed no job: the kill was not mid-run")
		}
		twice, unseen := 0, 0
		for id := range pushed {
			switch {
			case afterKill[id] && !survived[id]:
				errs.Errorf("job %d was in the table after the kill but no surviving worker completed it", id)
			case doneBy[id] > 1:
				twice++
				if !held[id] {
					errs.Errorf("job %d completed %d times but the killed worker did not hold it", id, doneBy[id])
				}
			case doneBy[id] == 0:
				unseen++
			}
		}
		errs.close()
		// unseen jobs left the table before the kill, completed by the
		// killed process in its last unflushed moment of output.
		t.Logf("jobs completed twice: %d (held by the killed worker: %d); completed before the kill with the line lost: %d", twice, len(held), unseen)
		if twice > len(held) {
			t.Errorf("%d jobs ran twice, more than the %d the killed worker held", twice, len(held))
		}
		if unseen > n/20 {
			t.Errorf("%d jobs have no completion line at all; the killed worker cannot have lost that many lines", unseen)
		}
	})
}

// TestSigtermFinishesRunningJob sends SIGTERM to a worker three hundred
// milliseconds into a three-second job: the worker must finish the job,
// record it, and exit 0.
func TestSigtermFinishesRunningJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		b := newBackend(t, d)
		b.run(t, "queue", "push", "sleep", "--args", `{"ms":3000}`)
		w := b.startWorker(t, "w", 90, "--concurrency", "1", "--json")
		waitFor(t, time.Minute, "the job to be reserved", []*worker{w}, func() bool {
			return b.count(t, "SELECT COUNT(*) FROM jobs WHERE reserved_at IS NOT NULL") == 1
		})
		time.Sleep(300 * time.Millisecond)
		sent := time.Now()
		if err := w.stop(t, syscall.SIGTERM, time.Minute); err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, w.stderr())
		}
		if took := time.Since(sent); took < 2*time.Second {
			t.Errorf("the worker exited %s after SIGTERM: it cannot have finished the 3s job", took)
		}
		if n := b.count(t, "SELECT COUNT(*) FROM jobs"); n != 0 {
			t.Errorf("jobs has %d rows after the stop, want 0 (the job must be completed, not released)", n)
		}
		if f := b.count(t, "SELECT COUNT(*) FROM failed_jobs"); f != 0 {
			t.Errorf("failed_jobs has %d rows, want 0", f)
		}
		done := 0
		for _, l := range w.lines(t) {
			if l.Status == "done" && l.Attempt == 1 {
				done++
			}
		}
		if done != 1 {
			t.Errorf("%d done lines for the job, want 1\nstdout lines: %+v", done, w.lines(t))
		}
	})
}

// TestMariaDBDeadlocks drains 100,000 jobs with four worker processes of
// concurrency 16 on MariaDB/MySQL, where concurrent claims and deletes
// deadlock now and then: every job must complete exactly once, on its first
// attempt, with nothing in failed_jobs. The full 100,000 take minutes on a
// shared two-core machine, so they run with TRIPIN_LONG_TESTS=1; otherwise
// the same test drains 10,000.
func TestMariaDBDeadlocks(t *testing.T) {
	if os.Getenv(storetest.MySQLEnv) == "" {
		t.Skipf("%s not set", storetest.MySQLEnv)
	}
	n := 10000
	if os.Getenv(longTestsEnv) == "1" {
		n = 100000
	}
	b := newBackend(t, store.MySQL)
	start := time.Now()
	b.run(t, "queue", "push", "noop", "--count", strconv.Itoa(n))
	pushed := b.ids(t, "SELECT id FROM jobs")
	if len(pushed) != n {
		t.Fatalf("pushed %d jobs, want %d", len(pushed), n)
	}
	t.Logf("pushed %d jobs in %s", n, time.Since(start).Round(time.Millisecond))

	deadlocks := serverDeadlocks(t, b)
	start = time.Now()
	var workers []*worker
	for i := range 4 {
		workers = append(workers, b.startWorker(t, fmt.Sprintf("w%d", i+1), 90, "--concurrency", "16", "--json", "--sleep", "1"))
	}
	waitFor(t, time.Duration(n/10)*time.Millisecond+5*time.Minute, "every job to finish", workers, func() bool {
		return b.count(t, "SELECT COUNT(*) FROM jobs") == 0
	})
	took := time.Since(start)
	// The counter is server-wide, so other clients' deadlocks count too.
	t.Logf("drained %d jobs with 4 workers in %s (%.0f jobs/s); the server counted %d deadlocks meanwhile",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), serverDeadlocks(t, b)-deadlocks)
	for _, w := range workers {
		if err := w.stop(t, syscall.SIGTERM, time.Minute); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v\nstderr:\n%s", w.name, err, w.stderr())
		}
	}
	if f := b.count(t, "SELECT COUNT(*) FROM failed_jobs"); f != 0 {
		t.Errorf("failed_jobs has %d rows, want 0", f)
	}
	done := map[int64]int{}
	retried := 0
	for _, w := range workers {
		for _, l := range w.lines(t) {
			if l.Attempt != 1 {
				if retried++; retried > 10 {
					continue
				}
				t.Errorf("%s: job %d ran attempt %d; a deadlock must never cost an attempt", w.name, l.ID, l.Attempt)
			}
			if l.Status == "done" {
				done[l.ID]++
			}
		}
	}
	wrong := 0
	for id := range pushed {
		if done[id] != 1 {
			if wrong++; wrong <= 10 {
				t.Errorf("job %d completed %d times, want 1", id, done[id])
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d jobs did not complete exactly once", wrong, n)
	}
}

// serverDeadlocks reads InnoDB's count of deadlocks since the server
// started, or -1 where the server does not report it.
func serverDeadlocks(t *testing.T, b *backend) int {
	t.Helper()
	var name string
	var n int
	if err := b.db.QueryRowContext(context.Background(), "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'").Scan(&name, &n); err != nil {
		return -1
	}
	return n
}
