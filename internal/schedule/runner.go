package schedule

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tripintravel/tripin/internal/queue"
	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/store"
)

// Dispatcher inserts jobs into the queue; *queue.Client is one.
type Dispatcher interface {
	Insert(ctx context.Context, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error)
}

// TxDispatcher is an optional capability of a Dispatcher: inserting a job
// inside the caller's transaction. When the dispatcher has it, a
// WithoutOverlapping job and the lock naming it commit together, so a
// scheduler that dies mid-dispatch leaves either both or neither. A
// dispatcher that runs jobs inline (the sync connection) must not offer it.
type TxDispatcher interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error)
}

// JobChecker reports whether a dispatched job is still in the queue:
// pending, delayed, running or waiting for a retry. A job that completed or
// failed for good is gone.
type JobChecker interface {
	JobExists(ctx context.Context, id int64) (bool, error)
}

// DatabaseJobs is the JobChecker of the database queue: a job exists while
// its row is in the jobs table (the engine deletes it on success and moves
// it to failed_jobs when it fails for good).
func DatabaseJobs(db *store.DB) JobChecker { return databaseJobs{db} }

type databaseJobs struct{ db *store.DB }

func (j databaseJobs) JobExists(ctx context.Context, id int64) (bool, error) {
	var n int
	if err := j.db.Read.QueryRowContext(ctx, j.db.Rebind("SELECT COUNT(*) FROM jobs WHERE id = ?"), id).Scan(&n); err != nil {
		return false, fmt.Errorf("schedule: look up job %d: %w", id, err)
	}
	return n > 0, nil
}

// Clock tells the scheduler the time. Now fails when the time cannot be
// read (the database is unreachable): the scheduler then skips the tick
// instead of taking the time from another clock, because processes that
// disagree on the time would disagree on the tick.
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}

// ClockFunc adapts a function to Clock.
type ClockFunc func(ctx context.Context) (time.Time, error)

// Now calls f.
func (f ClockFunc) Now(ctx context.Context) (time.Time, error) { return f(ctx) }

// SystemClock is the local clock, for a runner without a database.
var SystemClock Clock = ClockFunc(func(context.Context) (time.Time, error) { return time.Now(), nil })

// clockTimeout bounds one read of the database clock.
const clockTimeout = 5 * time.Second

// DatabaseClock is the database server's clock, which every scheduler
// process sharing the database agrees on, so they compute the same tick.
// When the database cannot be asked it fails; it never falls back to the
// local clock.
func DatabaseClock(db *store.DB) Clock {
	return ClockFunc(func(ctx context.Context) (time.Time, error) {
		ctx, cancel := context.WithTimeout(ctx, clockTimeout)
		defer cancel()
		t, err := db.Now(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("schedule: read the database clock: %w", err)
		}
		return t, nil
	})
}

// Config configures a Runner.
type Config struct {
	Schedule   *Schedule
	Dispatcher Dispatcher
	// DB holds the locks (cache_locks) and the run log (schedule_runs). It
	// is required when an event uses OnOneServer or WithoutOverlapping.
	DB *store.DB
	// Jobs tells whether the job a WithoutOverlapping event dispatched is
	// still in the queue. Nil means DatabaseJobs(DB). Without a checker,
	// the lock is only freed by its expiry.
	Jobs JobChecker
	// NoJobChecker disables Jobs (for queues the checker cannot see).
	NoJobChecker bool
	// Clock defaults to DatabaseClock(DB), or the system clock without DB.
	Clock  Clock
	Logger *slog.Logger
	// Host names this process in schedule_runs (default hostname:pid).
	Host string
	// Registry, when set, lists the runner as a live scheduler process
	// (queue_processes) while Run or Start is active, so that operators
	// see which servers schedule; the row goes when Run returns.
	// RunDue, RunTick and RunNow, one-shot commands, do not register.
	Registry driver.Registry
	// HeartbeatInterval is how often the registry row is renewed
	// (queue.DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
}

// Runner runs a schedule: one tick at a time (RunDue, for `schedule run`),
// in a loop on minute boundaries (Run, for `schedule work` and serve), or
// one event on demand (RunNow, for `schedule test`).
type Runner struct {
	sched *Schedule
	disp  Dispatcher
	db    *store.DB
	locks *Locker
	runs  *RunLog
	jobs  JobChecker
	clock Clock
	log   *slog.Logger
	host  string
	// registry and heartbeat are Config.Registry and HeartbeatInterval.
	registry  driver.Registry
	heartbeat time.Duration
	// sleep waits d or until ctx ends; mono is the local monotonic clock
	// that measures how long the loop slept. Tests replace both.
	sleep func(ctx context.Context, d time.Duration) error
	mono  func() time.Time

	mu      sync.Mutex
	cancel  context.CancelFunc
	stopped chan struct{}

	stMu   sync.Mutex
	status Status
}

// Status is what the Run loop did last, for health checks (serve's
// /readyz).
type Status struct {
	// Heartbeat is the local time of the loop's last iteration: it wakes
	// at least once a minute while it runs.
	Heartbeat time.Time
	// LastTick is the last tick the loop ran.
	LastTick time.Time
	// ClockError is why the last read of the clock failed; nil after a
	// successful read.
	ClockError error
}

// Status returns what the Run loop did last.
func (r *Runner) Status() Status {
	r.stMu.Lock()
	defer r.stMu.Unlock()
	return r.status
}

func (r *Runner) setStatus(f func(*Status)) {
	r.stMu.Lock()
	defer r.stMu.Unlock()
	f(&r.status)
}

// NewRunner checks cfg and returns a Runner.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Schedule == nil {
		return nil, errors.New("schedule: runner without a schedule")
	}
	r := &Runner{sched: cfg.Schedule, disp: cfg.Dispatcher, db: cfg.DB, jobs: cfg.Jobs, clock: cfg.Clock, log: cfg.Logger, host: cfg.Host,
		registry: cfg.Registry, heartbeat: cfg.HeartbeatInterval}
	for _, e := range cfg.Schedule.events {
		if e.IsJob() && r.disp == nil {
			return nil, fmt.Errorf("schedule: event %s dispatches a job but the runner has no dispatcher", e.name)
		}
		if (e.oneSrv || e.overlap > 0) && r.db == nil {
			return nil, fmt.Errorf("schedule: event %s needs locks but the runner has no database", e.name)
		}
	}
	if r.db != nil {
		r.locks, r.runs = NewLocker(r.db), NewRunLog(r.db)
		if r.jobs == nil {
			r.jobs = DatabaseJobs(r.db)
		}
	}
	if cfg.NoJobChecker {
		r.jobs = nil
	}
	if r.clock == nil {
		r.clock = SystemClock
		if r.db != nil {
			r.clock = DatabaseClock(r.db)
		}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.host == "" {
		h, _ := os.Hostname()
		r.host = h + ":" + strconv.Itoa(os.Getpid())
	}
	r.sleep, r.mono = sleepCtx, time.Now
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Schedule returns the runner's schedule.
func (r *Runner) Schedule() *Schedule { return r.sched }

// Runs returns the run log, or nil when the runner has no database.
func (r *Runner) Runs() *RunLog { return r.runs }

// Result is what an event did on a tick.
type Result struct {
	Event   string
	Tick    time.Time
	Outcome Outcome
	JobID   int64
	Err     error
}

// RunDue runs every event due on the current tick (by the runner's clock)
// and returns what each did. It fails, running nothing, when the clock
// cannot be read.
func (r *Runner) RunDue(ctx context.Context) ([]Result, error) {
	now, err := r.clock.Now(ctx)
	if err != nil {
		return nil, err
	}
	return r.RunTick(ctx, now), nil
}

// RunTick runs every event due on the tick containing t, concurrently, and
// waits for them. Events that use OnOneServer run here only if this process
// is the first to claim them for the tick.
func (r *Runner) RunTick(ctx context.Context, t time.Time) []Result {
	tick := Tick(t)
	return r.runPlan(ctx, r.plan(tick.Add(-time.Minute), tick, false), tick.Minute() == 0, tick)
}

// planned is one event to run on a tick.
type planned struct {
	e    *Event
	tick time.Time
	// missed is set when the tick is one the loop did not reach in time
	// (see plan).
	missed bool
}

// plan lists the events to run when the loop reaches tick after last: the
// events due on tick and, with catchUp, each event that was due on a tick
// strictly between last and tick but is not due on tick itself, once, on
// the latest such tick. Missed ticks are never replayed one by one.
func (r *Runner) plan(last, tick time.Time, catchUp bool) []planned {
	var out []planned
	for _, e := range r.sched.events {
		if e.Due(tick) {
			out = append(out, planned{e: e, tick: tick})
			continue
		}
		if !catchUp {
			continue
		}
		for t := tick.Add(-time.Minute); t.After(last); t = t.Add(-time.Minute) {
			if e.Due(t) {
				out = append(out, planned{e: e, tick: t, missed: true})
				break
			}
		}
	}
	return out
}

// runPlan runs the planned events concurrently and waits for them; with
// prune, it then prunes expired tick locks and old runs as of pruneAt.
func (r *Runner) runPlan(ctx context.Context, plan []planned, prune bool, pruneAt time.Time) []Result {
	out := make([]Result, len(plan))
	var wg sync.WaitGroup
	for i, p := range plan {
		if p.missed {
			r.log.Warn("schedule: running a missed tick's event once", "event", p.e.name,
				"tick", p.tick.In(p.e.loc).Format("2006-01-02 15:04 MST"))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.runEvent(ctx, p.e, p.tick, true)
		}()
	}
	wg.Wait()
	if prune && r.locks != nil {
		r.prune(ctx, pruneAt)
	}
	return out
}

// RunNow runs the event named name at once, as `schedule test` does: it
// ignores the frequency and OnOneServer but respects WithoutOverlapping.
func (r *Runner) RunNow(ctx context.Context, name string) (Result, error) {
	e, ok := r.sched.Event(name)
	if !ok {
		return Result{}, fmt.Errorf("schedule: no event named %q", name)
	}
	now, err := r.clock.Now(ctx)
	if err != nil {
		return Result{}, err
	}
	return r.runEvent(ctx, e, Tick(now), false), nil
}

// The loop's clock policy (docs/OPERATIONS.md, "The scheduler's clock").
const (
	// maxRewindWait is how far the clock may go back behind the last tick
	// run before the loop stops waiting for it to catch up: a clock that
	// went back further is taken as a corrected clock, and the loop goes
	// on from it.
	maxRewindWait = 5 * time.Minute
	// maxCatchUp is the longest gap after which the events due in the
	// missed ticks still run once; after a longer gap (a clock that jumped
	// hours ahead, a process suspended for hours) they are logged and
	// skipped. It matches tickLockTTL, so a missed tick run late is still
	// recognised by OnOneServer when another server ran it on time.
	maxCatchUp = tickLockTTL
	// wakeSlack wakes the loop just after a minute boundary: clocks that
	// disagree by a few milliseconds land it before the boundary, and it
	// sleeps the remainder.
	wakeSlack = 20 * time.Millisecond
)

// Run ticks on every minute boundary of the runner's clock (the database's,
// by default) until ctx ends, then waits for the ticks in progress. Like
// `schedule work`, it runs the current minute only when started within its
// first seconds, so a restart never repeats a tick. A slow event never
// delays the next tick. It fails only when the clock cannot be read at
// start; afterwards an unreadable clock skips the tick, with a warning,
// and the next one is tried.
//
// Each tick runs at most once per loop, and the loop never sleeps longer
// than until the next minute boundary, so it follows the clock wherever
// it goes:
//   - the clock went back (by up to maxRewindWait behind the last tick
//     run): the ticks already run are not run again; the loop waits, a
//     minute at most per sleep, for the clock to pass them;
//   - the clock went back further: the earlier readings were wrong; the
//     loop logs it and goes on from the clock's minute (OnOneServer events
//     still skip the ticks whose lock, kept an hour, says they ran);
//   - the clock jumped forward, or ticks were missed (an unreadable clock,
//     a suspended process): each event due in the missed ticks runs once,
//     on the latest of them, unless the gap exceeds maxCatchUp; the ticks
//     are not replayed one by one.
func (r *Runner) Run(ctx context.Context) error {
	now, err := r.clock.Now(ctx)
	if err != nil {
		r.setStatus(func(s *Status) { s.Heartbeat, s.ClockError = time.Now(), err })
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("schedule: start: %w", err)
	}
	r.log.Info("schedule: worker started", "events", len(r.sched.events), "timezone", r.sched.loc.String(), "host", r.host)
	if r.registry != nil {
		rg := queue.Register(ctx, r.registry, queue.NewProcess(driver.ProcessScheduler),
			queue.RegisterOptions{Interval: r.heartbeat, Logger: r.log})
		// Deferred before the wait for the ticks in progress, so the row
		// stays while they finish.
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = rg.Stop(sctx) // Stop has logged a failure.
		}()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	last := Tick(now)
	if now.Sub(last) < 2*time.Second {
		last = last.Add(-time.Minute)
	}
	// read and readAt are the last successful reading of the clock and
	// the local monotonic instant it was taken: after a failed read, the
	// next boundary is estimated from them, never from the local wall
	// clock.
	read, readAt := now, r.mono()
	first := true
	for {
		if !first {
			now, err = r.clock.Now(ctx)
		}
		first = false
		if ctx.Err() != nil {
			r.log.Info("schedule: worker stopping")
			return nil
		}
		var wait time.Duration
		switch tick := Tick(now); {
		case err != nil:
			r.setStatus(func(s *Status) { s.Heartbeat, s.ClockError = time.Now(), err })
			guess := read.Add(r.mono().Sub(readAt))
			wait = Tick(guess).Add(time.Minute).Sub(guess) + wakeSlack
			r.log.Warn("schedule: the clock cannot be read; tick skipped", "error", err, "retry_in", wait.Round(time.Millisecond).String())
		case tick.After(last):
			read, readAt = now, r.mono()
			gap := tick.Sub(last)
			catchUp := gap <= maxCatchUp
			if missed := int(gap/time.Minute) - 1; missed > 0 {
				r.log.Warn("schedule: ticks missed", "count", missed, "from", last.Add(time.Minute), "to", tick.Add(-time.Minute),
					"catch_up", catchUp)
			}
			plan := r.plan(last, tick, catchUp)
			prune := tick.Truncate(time.Hour).After(last)
			last = tick
			r.setStatus(func(s *Status) { s.Heartbeat, s.LastTick, s.ClockError = time.Now(), tick, nil })
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runPlan(ctx, plan, prune, tick)
			}()
			continue
		case last.Sub(now) > maxRewindWait:
			read, readAt = now, r.mono()
			r.log.Warn("schedule: the clock went back; going on from it", "last_tick", last, "now", now)
			last = tick
			wait = tick.Add(time.Minute).Sub(now) + wakeSlack
			r.setStatus(func(s *Status) { s.Heartbeat, s.ClockError = time.Now(), nil })
		default:
			// The current tick ran already, or the clock went back a
			// little: sleep to the next boundary of the clock as read.
			read, readAt = now, r.mono()
			if tick.Before(last) {
				r.log.Warn("schedule: the clock went back; waiting for it to pass the last tick run", "last_tick", last, "now", now)
			}
			wait = tick.Add(time.Minute).Sub(now) + wakeSlack
			r.setStatus(func(s *Status) { s.Heartbeat, s.ClockError = time.Now(), nil })
		}
		if err := r.sleep(ctx, wait); err != nil {
			r.log.Info("schedule: worker stopping")
			return nil
		}
	}
}

// Start runs Run in the background until ctx ends or Stop is called, the
// shape every background service of Tripin shares (serve embeds the
// scheduler this way unless --no-scheduler).
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped != nil {
		return errors.New("schedule: runner already started")
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.stopped = make(chan struct{})
	go func() {
		defer close(r.stopped)
		_ = r.Run(ctx)
	}()
	return nil
}

// Stop stops the loop begun by Start and waits for the ticks in progress,
// or for ctx.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, stopped := r.cancel, r.stopped
	r.mu.Unlock()
	if stopped == nil {
		return nil
	}
	cancel()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("schedule: stop: %w", ctx.Err())
	}
}

// The lock keys. A tick key names the UTC minute.
func tickKey(name string, tick time.Time) string {
	return "schedule:" + name + ":" + tick.UTC().Format("200601021504")
}

func overlapKey(name string) string { return "schedule:overlap:" + name }

// tickLockTTL keeps a tick's OnOneServer lock long after the tick, so a
// process that starts late in the minute still sees it was taken.
const tickLockTTL = time.Hour

// claimTTL bounds how long a WithoutOverlapping lock is held by a scheduler
// before it names the job it dispatched: if the scheduler dies in between,
// the event is blocked for at most this long.
const claimTTL = 10 * time.Minute

const jobOwnerPrefix = "job:"

func jobOwner(id int64) string { return jobOwnerPrefix + strconv.FormatInt(id, 10) }

func parseJobOwner(owner string) (int64, bool) {
	s, ok := strings.CutPrefix(owner, jobOwnerPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

func newToken(host string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "run:" + host + ":" + hex.EncodeToString(b)
}

func (r *Runner) runEvent(ctx context.Context, e *Event, tick time.Time, scheduled bool) Result {
	res := Result{Event: e.name, Tick: tick}
	log := r.log.With("event", e.name, "tick", tick.In(e.loc).Format("2006-01-02 15:04 MST"))
	started := time.Now()
	if scheduled && e.oneSrv {
		ok, err := r.locks.Acquire(ctx, tickKey(e.name, tick), r.host, tickLockTTL)
		if err != nil {
			res.Outcome, res.Err = OutcomeFailed, err
			log.Error("schedule: run failed", "err", err)
			r.record(ctx, res, started)
			return res
		}
		if !ok {
			res.Outcome = OutcomeOtherServer
			log.Info("schedule: skipped", "reason", "another server took this tick")
			return res
		}
	}
	token := newToken(r.host)
	if e.overlap > 0 {
		ttl := e.overlap
		if e.IsJob() {
			ttl = min(claimTTL, e.overlap)
		}
		ok, holder, err := r.claimOverlap(ctx, e, token, ttl)
		if err != nil {
			res.Outcome, res.Err = OutcomeFailed, err
			log.Error("schedule: run failed", "err", err)
			r.record(ctx, res, started)
			return res
		}
		if !ok {
			res.Outcome = OutcomeOverlapping
			log.Info("schedule: skipped", "reason", "previous run has not finished", "held_by", holder)
			r.record(ctx, res, started)
			return res
		}
	}
	if e.IsJob() {
		res.JobID, res.Err = r.dispatch(ctx, e, token)
		if res.Err != nil {
			res.Outcome = OutcomeFailed
			log.Error("schedule: dispatch failed", "kind", e.args.Kind(), "err", res.Err)
		} else {
			res.Outcome = OutcomeDispatched
			log.Info("schedule: dispatched", "kind", e.args.Kind(), "job_id", res.JobID)
		}
		r.record(ctx, res, started)
		return res
	}
	log.Info("schedule: running")
	res.Err = runFunc(ctx, e.fn)
	if e.overlap > 0 {
		if _, err := r.locks.Release(context.WithoutCancel(ctx), overlapKey(e.name), token); err != nil {
			log.Warn("schedule: release overlap lock", "err", err)
		}
	}
	if res.Err != nil {
		res.Outcome = OutcomeFailed
		log.Error("schedule: run failed", "err", res.Err, "duration", time.Since(started))
	} else {
		res.Outcome = OutcomeRan
		log.Info("schedule: ran", "duration", time.Since(started))
	}
	r.record(ctx, res, started)
	return res
}

// runFunc runs fn, turning a panic into an error so one bad task cannot
// take the scheduler down.
func runFunc(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("schedule: panic: %v", p)
		}
	}()
	return fn(ctx)
}

// claimOverlap takes the event's overlap lock for token. When another
// holds it and the holder is a dispatched job that is no longer in the
// queue, the job has finished (or failed for good, or was deleted), so the
// lock is taken over with a compare-and-set on the holder. It returns the
// holder when the lock stays held.
func (r *Runner) claimOverlap(ctx context.Context, e *Event, token string, ttl time.Duration) (bool, string, error) {
	key := overlapKey(e.name)
	for range 3 {
		ok, err := r.locks.Acquire(ctx, key, token, ttl)
		if err != nil || ok {
			return ok, "", err
		}
		st, found, err := r.locks.Get(ctx, key)
		if err != nil {
			return false, "", err
		}
		if !found {
			continue // released between our two statements: try again
		}
		id, isJob := parseJobOwner(st.Owner)
		if !isJob || r.jobs == nil {
			return false, st.Owner, nil
		}
		exists, err := r.jobs.JobExists(ctx, id)
		if err != nil {
			return false, "", err
		}
		if exists {
			return false, st.Owner, nil
		}
		ok, err = r.locks.Transfer(ctx, key, st.Owner, token, ttl)
		if err != nil || ok {
			return ok, "", err
		}
	}
	return false, "", nil
}

// errLostClaim aborts a dispatch whose overlap claim expired and was taken
// by another scheduler before the job could be named in it.
var errLostClaim = errors.New("schedule: overlap lock was taken over during dispatch")

// dispatch inserts the event's job. For a WithoutOverlapping event the lock
// held by token is handed to the job ("job:<id>") for the event's full
// expiry, in the insert's transaction when the dispatcher allows it; a
// failed or skipped insert frees the lock.
func (r *Runner) dispatch(ctx context.Context, e *Event, token string) (int64, error) {
	// A dispatch half done when the scheduler is asked to stop would leave
	// a claim behind: let it finish.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if e.overlap == 0 {
		res, err := r.disp.Insert(ctx, e.args, e.opts)
		if err != nil {
			return 0, fmt.Errorf("schedule: dispatch %s: %w", e.name, err)
		}
		return res.ID, nil
	}
	key := overlapKey(e.name)
	var (
		res *queue.InsertResult
		err error
	)
	release := func() {
		if _, err := r.locks.Release(ctx, key, token); err != nil {
			r.log.Warn("schedule: release overlap lock", "event", e.name, "err", err)
		}
	}
	if txd, ok := r.disp.(TxDispatcher); ok {
		err = r.db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			res, err = txd.InsertTx(ctx, tx, e.args, e.opts)
			if err != nil || res.ID == 0 {
				return err
			}
			ok, err := r.locks.transfer(ctx, tx, key, token, jobOwner(res.ID), e.overlap)
			if err == nil && !ok {
				err = errLostClaim
			}
			return err
		})
		if err != nil || res.ID == 0 {
			// Nothing was dispatched (or a job with the same unique key
			// already runs): free the event.
			release()
		}
	} else {
		res, err = r.disp.Insert(ctx, e.args, e.opts)
		switch {
		case err != nil || res.ID == 0:
			release()
		default:
			var ok bool
			ok, err = r.locks.Transfer(ctx, key, token, jobOwner(res.ID), e.overlap)
			if err == nil && !ok {
				// The job is in the queue already; another scheduler may
				// dispatch a second one. Report it, do not hide it.
				err = errLostClaim
			}
			// On an error the claim stays: it expires after claimTTL, so the
			// job just dispatched is not doubled at once.
		}
	}
	if err != nil {
		return 0, fmt.Errorf("schedule: dispatch %s: %w", e.name, err)
	}
	return res.ID, nil
}

func (r *Runner) record(ctx context.Context, res Result, started time.Time) {
	if r.runs == nil || res.Outcome == OutcomeOtherServer {
		return
	}
	run := Run{Name: res.Event, Tick: res.Tick, StartedAt: started, FinishedAt: time.Now(), Outcome: res.Outcome, JobID: res.JobID, Host: r.host}
	if res.Err != nil {
		run.Error = res.Err.Error()
	}
	if err := r.runs.Record(context.WithoutCancel(ctx), run); err != nil {
		r.log.Warn("schedule: record run", "event", res.Event, "err", err)
	}
}

// runRetention is how long schedule_runs keeps a run.
const runRetention = 30 * 24 * time.Hour

// prune removes expired tick locks and old runs, once an hour.
func (r *Runner) prune(ctx context.Context, tick time.Time) {
	if n, err := r.locks.PruneExpired(ctx, "schedule:"); err != nil {
		r.log.Warn("schedule: prune locks", "err", err)
	} else if n > 0 {
		r.log.Debug("schedule: pruned expired locks", "count", n)
	}
	if _, err := r.runs.Prune(ctx, tick.Add(-runRetention)); err != nil {
		r.log.Warn("schedule: prune runs", "err", err)
	}
}
