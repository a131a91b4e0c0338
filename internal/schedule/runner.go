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
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
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

	// tickMu guards the fields below, which outlive one Run, so a loop
	// that serve's supervisor starts again on the same Runner keeps them.
	tickMu sync.Mutex
	// done is, per event name, the latest tick this process planned the
	// event on (RunDue and the Run loop; RunTick and RunNow, run on
	// demand, leave it alone). A tick at or before it is never planned
	// again, wherever the clock goes.
	done map[string]time.Time
	// follow and followAt are the time the loop follows and the local
	// monotonic instant it was taken (see readClock): the last reading of
	// the clock that was not behind, carried forward while the clock is.
	follow, followAt time.Time

	// ticks counts the ticks in progress, which Run waits for before it
	// returns.
	ticks sync.WaitGroup

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
	r.done = map[string]time.Time{}
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
// cannot be read. It is `schedule run`, which cron starts every minute, so
// it does not run a tick again after the clock went back: it leaves out an
// event this Runner already planned on the tick or a later one, and an
// OnOneServer event whose run on the tick or a later one, by any server,
// is in schedule_runs (see runEvent). What it leaves out is logged, not
// returned.
func (r *Runner) RunDue(ctx context.Context) ([]Result, error) {
	now, err := r.clock.Now(ctx)
	if err != nil {
		return nil, err
	}
	tick := Tick(now)
	plan := r.claim(r.plan(tick.Add(-time.Minute), tick, false))
	return r.runPlan(ctx, plan, true, tick.Minute() == 0, tick), nil
}

// RunTick runs every event due on the tick containing t, concurrently, and
// waits for them. Events that use OnOneServer run here only if this process
// is the first to claim them for the tick. It runs the tick it is given
// even if that tick ran already (`schedule run --time`, for recovery):
// only an OnOneServer event's tick lock, kept an hour, holds it back.
func (r *Runner) RunTick(ctx context.Context, t time.Time) []Result {
	tick := Tick(t)
	return r.runPlan(ctx, r.plan(tick.Add(-time.Minute), tick, false), false, tick.Minute() == 0, tick)
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

// claim drops from plan each event this Runner already planned on the same
// tick or a later one, and records the others' ticks as done. Within one
// Run the loop's own last tick already keeps a tick from being planned
// twice; claim is what holds across a loop that serve's supervisor starts
// again on the same Runner, and across RunDue calls.
func (r *Runner) claim(plan []planned) []planned {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	out := plan[:0]
	for _, p := range plan {
		if done, ok := r.done[p.e.name]; ok && !p.tick.After(done) {
			r.log.Info("schedule: skipped", "event", p.e.name, "tick", tickString(p.e, p.tick),
				"reason", "this process already ran this tick or a later one", "last_tick", tickString(p.e, done))
			continue
		}
		r.done[p.e.name] = p.tick
		out = append(out, p)
	}
	return out
}

// tickString formats a tick in the event's time zone, as the logs show it.
func tickString(e *Event, tick time.Time) string {
	return tick.In(e.loc).Format("2006-01-02 15:04 MST")
}

// outcomeAlreadyRan is what runEvent returns for an OnOneServer event
// whose tick, or a later one, schedule_runs says ran already. It is
// neither recorded nor returned by RunDue: the event did nothing.
const outcomeAlreadyRan Outcome = "already_ran"

// runPlan runs the planned events concurrently and waits for them; with
// prune, it then prunes expired tick locks and old runs as of pruneAt.
// With guarded (RunDue and the Run loop), OnOneServer events look in
// schedule_runs before running (see runEvent).
func (r *Runner) runPlan(ctx context.Context, plan []planned, guarded, prune bool, pruneAt time.Time) []Result {
	out := make([]Result, len(plan))
	var wg sync.WaitGroup
	for i, p := range plan {
		if p.missed {
			r.log.Warn("schedule: running a missed tick's event once", "event", p.e.name, "tick", tickString(p.e, p.tick))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.runScheduled(ctx, p.e, p.tick, guarded)
		}()
	}
	wg.Wait()
	if prune && r.locks != nil {
		r.prune(ctx, pruneAt)
	}
	kept := out[:0]
	for _, res := range out {
		if res.Outcome != outcomeAlreadyRan {
			kept = append(kept, res)
		}
	}
	return kept
}

// runScheduled is runEvent for one event of a tick, in the event's own
// goroutine, where nothing else would catch a panic: a panic in a
// dispatcher, a lock or run-log statement or a driver is recovered here,
// logged with the event's name and the stack, and recorded as a failed
// run, so one bad event cannot take the scheduler (or the serve process
// that embeds it) down. An overlap lock the event had claimed is left to
// expire (claimTTL for a job): whether the job went into the queue before
// the panic is unknown, and holding the event back a while is the safe
// side.
func (r *Runner) runScheduled(ctx context.Context, e *Event, tick time.Time, guarded bool) (res Result) {
	started := time.Now()
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		res = Result{Event: e.name, Tick: tick, Outcome: OutcomeFailed, Err: fmt.Errorf("schedule: panic: %v", p)}
		r.log.Error("schedule: panic while running an event", "event", e.name, "tick", tickString(e, tick),
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		r.recordSafely(ctx, res, started)
	}()
	return r.runEvent(ctx, e, tick, true, guarded)
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
	return r.runEvent(ctx, e, Tick(now), false, false), nil
}

// The loop's clock policy (docs/OPERATIONS.md, "The database clock").
const (
	// clockNoise is how far a reading of the clock may fall behind the
	// time the loop follows before the clock counts as gone back. The
	// estimate it is compared with is taken when the read begins, so a
	// slow read makes the reading later, never earlier; the allowance
	// covers the drift between the local monotonic clock and the
	// database's and the resolution of the database's clock.
	clockNoise = time.Second
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

// readClock reads the runner's clock and returns the reading and the time
// the loop follows. The followed time is the reading, unless the reading
// is behind the followed time carried forward on the local monotonic
// clock since it was last taken from the clock: then the clock went back,
// and the followed time is that estimate. So the followed time never goes
// back: the loop neither reaches a tick it ran again nor waits for the
// clock to pass it, and it takes the clock again as soon as the clock
// reads at or past the estimate. A clock that jumps forward is followed at
// once.
func (r *Runner) readClock(ctx context.Context) (now, follow time.Time, err error) {
	before := r.mono()
	now, err = r.clock.Now(ctx)
	after := r.mono()
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	// A reading from time.Now (SystemClock) carries a monotonic reading,
	// which Before would compare instead of the wall clock, hiding the
	// very jumps looked for here: keep the wall clock only.
	now = now.Round(0)
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	// The estimate is taken at the instant the read began: the clock was
	// read at or after it, so an honest reading is never behind it.
	if !r.follow.IsZero() && now.Before(r.follow.Add(before.Sub(r.followAt)).Add(-clockNoise)) {
		return now, r.follow.Add(after.Sub(r.followAt)), nil
	}
	// The reading is taken as of the instant the read ended, which
	// places it at or behind the clock's true time, never ahead.
	r.follow, r.followAt = now, after
	return now, now, nil
}

// estimate is the followed time now, from its last reading and the local
// monotonic clock; the loop uses it to guess the next minute boundary
// while the clock cannot be read, never the local wall clock.
func (r *Runner) estimate() time.Time {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	return r.follow.Add(r.mono().Sub(r.followAt))
}

// Run ticks on every minute boundary of the runner's clock (the database's,
// by default) until ctx ends, then waits for the ticks in progress. Like
// `schedule work`, it runs the current minute only when started within its
// first seconds, so a restart never repeats a tick. A slow event never
// delays the next tick. It fails only when the clock cannot be read at
// start; afterwards an unreadable clock skips the tick, with a warning,
// and the next one is tried.
//
// Each tick runs at most once, and the loop never sleeps longer than until
// the next minute boundary, so it looks at the clock at least once a
// minute:
//   - the clock went back, by any amount: the loop ticks on, on the local
//     monotonic clock carried forward from the last reading that was not
//     behind (see readClock), so the events due next still run on time
//     and none runs twice; it takes the clock again once the clock catches
//     up. A clock corrected back for good never catches up: the loop stays
//     ahead of it by the correction until the process restarts. (The
//     ticks already run are also remembered per event, so a loop started
//     again on the same Runner, as serve's supervisor does, skips them;
//     and OnOneServer events consult schedule_runs, so a process started
//     after the jump does not run them again.)
//   - the clock jumped forward, or ticks were missed (an unreadable clock,
//     a suspended process): each event due in the missed ticks runs once,
//     on the latest of them, unless the gap exceeds maxCatchUp; the ticks
//     are not replayed one by one.
func (r *Runner) Run(ctx context.Context) error {
	now, follow, err := r.readClock(ctx)
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
	defer r.ticks.Wait()
	last := Tick(follow)
	if follow.Sub(last) < 2*time.Second {
		last = last.Add(-time.Minute)
	}
	behind := false
	first := true
	for {
		if !first {
			now, follow, err = r.readClock(ctx)
		}
		first = false
		if ctx.Err() != nil {
			r.log.Info("schedule: worker stopping")
			return nil
		}
		var wait time.Duration
		if err != nil {
			r.setStatus(func(s *Status) { s.Heartbeat, s.ClockError = time.Now(), err })
			guess := r.estimate()
			wait = Tick(guess).Add(time.Minute).Sub(guess) + wakeSlack
			r.log.Warn("schedule: the clock cannot be read; tick skipped", "error", err, "retry_in", wait.Round(time.Millisecond).String())
		} else {
			switch lag := follow.Sub(now); {
			case lag > 0 && !behind:
				behind = true
				r.log.Warn("schedule: the clock went back; ticking on the monotonic clock until it catches up",
					"now", now, "following", follow, "behind_by", lag.Round(time.Millisecond).String(), "last_tick", last)
			case lag == 0 && behind:
				behind = false
				r.log.Info("schedule: the clock caught up; ticking on it again", "now", now)
			}
			if tick := Tick(follow); tick.After(last) {
				gap := tick.Sub(last)
				catchUp := gap <= maxCatchUp
				if missed := int(gap/time.Minute) - 1; missed > 0 {
					r.log.Warn("schedule: ticks missed", "count", missed, "from", last.Add(time.Minute), "to", tick.Add(-time.Minute),
						"catch_up", catchUp)
				}
				plan := r.claim(r.plan(last, tick, catchUp))
				prune := tick.Truncate(time.Hour).After(last)
				last = tick
				r.setStatus(func(s *Status) { s.Heartbeat, s.LastTick, s.ClockError = time.Now(), tick, nil })
				r.ticks.Add(1)
				go func() {
					defer r.ticks.Done()
					r.runPlan(ctx, plan, true, prune, tick)
				}()
				continue
			}
			// The current tick ran already: sleep to the next minute
			// boundary of the time followed.
			wait = Tick(follow).Add(time.Minute).Sub(follow) + wakeSlack
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

// runEvent runs e on tick. A scheduled run of an OnOneServer event first
// takes the tick's lock; a guarded one (RunDue and the loop) then also
// looks in schedule_runs, since the lock is kept only an hour: a run of
// this tick or a later one recorded by any server means the clock went
// back and the tick ran already, so the event is skipped.
func (r *Runner) runEvent(ctx context.Context, e *Event, tick time.Time, scheduled, guarded bool) Result {
	res := Result{Event: e.name, Tick: tick}
	log := r.log.With("event", e.name, "tick", tickString(e, tick))
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
		if guarded {
			latest, found, err := r.latestRecordedTick(ctx, e.name)
			if err != nil {
				res.Outcome, res.Err = OutcomeFailed, err
				log.Error("schedule: run failed", "err", err)
				r.record(ctx, res, started)
				return res
			}
			if found && !latest.Before(tick) {
				res.Outcome = outcomeAlreadyRan
				log.Warn("schedule: skipped", "reason", "a run of this tick or a later one is recorded: the clock went back",
					"last_tick", tickString(e, latest))
				return res
			}
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

// recentRuns is how many of an event's latest runs latestRecordedTick
// reads: a short range of the (name, id) index, whatever the size of
// schedule_runs (an every-minute event adds 1,440 rows a day). Runs are
// recorded in tick order but for a few that finish out of order, so the
// latest tick recorded is among them.
const recentRuns = 64

// latestRecordedTick returns the latest tick among the event's latest runs
// in schedule_runs, by any server, and false when it has none. It reads
// the primary pool, which another server's run was written to.
func (r *Runner) latestRecordedTick(ctx context.Context, name string) (time.Time, bool, error) {
	var tick sql.NullInt64
	err := r.db.DB.QueryRowContext(ctx, r.db.Rebind(
		"SELECT MAX(tick) FROM (SELECT tick FROM schedule_runs WHERE name = ? ORDER BY id DESC LIMIT ?) recent"),
		name, recentRuns).Scan(&tick)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("schedule: latest run of %s: %w", name, err)
	}
	if !tick.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(tick.Int64, 0).UTC(), true, nil
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

// recordSafely is record for a run that panicked: the panic may have come
// from the database layer record uses, and a second one must not escape.
func (r *Runner) recordSafely(ctx context.Context, res Result, started time.Time) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("schedule: panic while recording a run", "event", res.Event, "panic", fmt.Sprint(p))
		}
	}()
	r.record(ctx, res, started)
}

// runRetention is how long schedule_runs keeps a run.
const runRetention = 30 * 24 * time.Hour

// prune removes expired tick locks and old runs, once an hour.
func (r *Runner) prune(ctx context.Context, tick time.Time) {
	// Pruning runs in the tick's goroutine, where a panic would end the
	// process; the next hour tries again.
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("schedule: panic while pruning", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if n, err := r.locks.PruneExpired(ctx, "schedule:"); err != nil {
		r.log.Warn("schedule: prune locks", "err", err)
	} else if n > 0 {
		r.log.Debug("schedule: pruned expired locks", "count", n)
	}
	if _, err := r.runs.Prune(ctx, tick.Add(-runRetention)); err != nil {
		r.log.Warn("schedule: prune runs", "err", err)
	}
}
