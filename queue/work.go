package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// RestartCacheKey is the cache key `queue restart` writes a timestamp to;
// running workers exit after their current jobs when it changes.
const RestartCacheKey = "illuminate:queue:restart"

// fetchCoalesce is how long a worker with only a few free slots waits
// for more before it claims.
const fetchCoalesce = 2 * time.Millisecond

// maxInFlight is how many claims a worker keeps under way at once: a
// second claim overlaps the round trip of the first when slots free up
// faster than one claim returns.
const maxInFlight = 2

// Defaults of WorkParams fields left zero.
const (
	DefaultConcurrency     = 10
	DefaultSleep           = 3 * time.Second
	DefaultPollInterval    = 50 * time.Millisecond
	DefaultStopTimeout     = 30 * time.Second
	DefaultAbandonGrace    = 5 * time.Second
	DefaultRestartInterval = 3 * time.Second
)

// WorkParams configure one run of workers (`queue work`, or the worker
// `serve` embeds).
type WorkParams struct {
	// Queues in strict priority order; empty means the client's default.
	Queues []string
	// Concurrency is the number of jobs worked at once (10).
	Concurrency int
	// Tries, Timeout and Backoff apply to jobs whose payload sets none, as
	// Laravel's --tries, --timeout and --backoff. Zero means the client's
	// Config; TriesUnlimited and TimeoutNone remove the limit.
	Tries   int
	Timeout time.Duration
	Backoff []time.Duration
	// Sleep is the longest wait between two looks at an empty queue
	// (Laravel's --sleep, 3s). Polling is shorter: every PollInterval
	// (50ms), jittered. With a driver that pushes insert events
	// (LISTEN/NOTIFY) the worker polls every ListenPollInterval (1s)
	// instead, for delayed jobs and expired leases. Both are capped by
	// Sleep.
	Sleep              time.Duration
	PollInterval       time.Duration
	ListenPollInterval time.Duration
	// MaxJobs stops the run after this many jobs; MaxTime after this long;
	// Once is MaxJobs = 1. StopWhenEmpty stops when no job is available.
	MaxJobs       int
	MaxTime       time.Duration
	Once          bool
	StopWhenEmpty bool
	// MemoryLimit in bytes: when the process uses more, the run stops after
	// its current jobs and returns ErrMemoryExceeded.
	MemoryLimit uint64
	// StopTimeout bounds a graceful stop (ctx cancelled): running jobs get
	// this long to finish, then their contexts are cancelled and the jobs
	// still unfinished are released with their attempt given back (30s).
	StopTimeout time.Duration
	// AbandonGrace is how long a job may run past its timeout before it is
	// abandoned (5s). After MaxAbandoned abandoned jobs still running (the
	// concurrency, by default) the run stops with ErrTooManyAbandoned.
	AbandonGrace time.Duration
	MaxAbandoned int
	// RestartInterval is how often the `queue restart` signal is read (3s);
	// negative disables it.
	RestartInterval time.Duration
	// Output receives one line per job event in Laravel's style (or JSON
	// lines with JSON). Nil sends the events to the client's logger.
	Output io.Writer
	JSON   bool
	// CompleteBatch and CompleteInterval bound how many finished jobs wait,
	// and for how long, before one JobCompleteMany writes them (100, 5ms).
	CompleteBatch    int
	CompleteInterval time.Duration
	// HeartbeatInterval is how often the run renews its row in the
	// driver's process registry (10s), when the driver has one: the row
	// says which queues it works and which jobs it runs, for `queue stats`
	// and the dashboard. It is not the jobs' lease heartbeat.
	HeartbeatInterval time.Duration
}

func (c *Client) normalize(p WorkParams) (WorkParams, error) {
	if len(p.Queues) == 0 {
		p.Queues = []string{c.cfg.Queue}
	}
	var qs []string
	for _, q := range p.Queues {
		if q == "" {
			return p, errors.New("queue: work: empty queue name")
		}
		if !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	p.Queues = qs
	if p.Concurrency < 0 {
		return p, fmt.Errorf("queue: work: concurrency %d: want > 0", p.Concurrency)
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.Tries < 0 && p.Tries != TriesUnlimited {
		return p, fmt.Errorf("queue: work: tries %d: want ≥ 0", p.Tries)
	}
	if p.Sleep <= 0 {
		p.Sleep = DefaultSleep
	}
	if p.PollInterval <= 0 {
		p.PollInterval = DefaultPollInterval
	}
	p.PollInterval = min(p.PollInterval, p.Sleep)
	if p.ListenPollInterval <= 0 {
		p.ListenPollInterval = time.Second
	}
	p.ListenPollInterval = min(p.ListenPollInterval, p.Sleep)
	if p.Once {
		p.MaxJobs = 1
	}
	if p.MaxJobs < 0 || p.MaxTime < 0 {
		return p, errors.New("queue: work: negative max-jobs or max-time")
	}
	if p.StopTimeout <= 0 {
		p.StopTimeout = DefaultStopTimeout
	}
	if p.AbandonGrace <= 0 {
		p.AbandonGrace = DefaultAbandonGrace
	}
	if p.MaxAbandoned <= 0 {
		p.MaxAbandoned = p.Concurrency
	}
	if p.RestartInterval == 0 {
		p.RestartInterval = DefaultRestartInterval
	}
	if p.CompleteBatch <= 0 {
		p.CompleteBatch = 100
	}
	if p.CompleteInterval <= 0 {
		p.CompleteInterval = 5 * time.Millisecond
	}
	if p.HeartbeatInterval <= 0 {
		p.HeartbeatInterval = DefaultHeartbeatInterval
	}
	return p, nil
}

// runHandle is a run started with Start.
type runHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start runs workers in the background until ctx ends or Stop is called;
// it returns at once, with an error only for invalid params or a run
// already started.
func (c *Client) Start(ctx context.Context, p WorkParams) error {
	if _, err := c.normalize(p); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != nil {
		select {
		case <-c.running.done:
		default:
			return errors.New("queue: start: already running")
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	h := &runHandle{cancel: cancel, done: make(chan struct{})}
	c.running = h
	go func() {
		defer close(h.done)
		defer cancel()
		h.err = c.Run(runCtx, p)
	}()
	return nil
}

// Stop stops the run begun by Start gracefully and waits for it, or for
// ctx. It returns the run's error (nil after a clean stop).
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	h := c.running
	c.mu.Unlock()
	if h == nil {
		return nil
	}
	h.cancel()
	select {
	case <-h.done:
		return h.err
	case <-ctx.Done():
		return fmt.Errorf("queue: stop: %w", ctx.Err())
	}
}

// Stopped returns a channel closed when the run begun by Start has ended
// on its own or by Stop (nil before Start), so that a caller can notice a
// run that gave up (ErrTooManyAbandoned, ErrMemoryExceeded) or obeyed
// `queue restart`, and start another.
func (c *Client) Stopped() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		return nil
	}
	return c.running.done
}

// Run works jobs until ctx ends (a graceful stop, see WorkParams.StopTimeout)
// or a limit of p is reached, the `queue restart` signal changes, or too
// many jobs are abandoned. It returns nil after a clean stop,
// ErrTooManyAbandoned or ErrMemoryExceeded when the process should be
// replaced, or the error that prevented it from starting.
func (c *Client) Run(ctx context.Context, p WorkParams) error {
	p, err := c.normalize(p)
	if err != nil {
		return err
	}
	if c.sync {
		c.logger.Info("queue: the sync connection runs jobs on insert; this worker stays idle")
		<-ctx.Done()
		return nil
	}
	r := newRunner(c, p)
	return r.run(ctx)
}

// execution is one claimed job being worked.
type execution struct {
	row     *driver.JobRow
	payload *Payload
	unit    *workUnit
	tries   int // 0 = unlimited
	timeout time.Duration
	backoff []time.Duration
	start   time.Time

	// cancel ends the job's context: at the stop timeout, or when its
	// lease is lost.
	cancel context.CancelCauseFunc

	// set by the job's goroutine before it sends the execution back
	err error
	dur time.Duration

	// owned by the producer
	abandoned bool
	timer     *time.Timer
	// renewed is when (by this process's monotonic clock) the lease was
	// last known to hold: the start of the claim that took the job, then
	// the start of each heartbeat that renewed it.
	renewed time.Time
	// marked is set once a heartbeat has renewed the claim, which marks
	// the job started: from then on a takeover after the lease counts
	// the attempt (see driver.Driver.JobClaim).
	marked bool
	// lost is set when the lease is known lost: a heartbeat renewed
	// nothing, or the lease passed without a renewal. The job's context is
	// cancelled and whatever it returns is written fenced, which records
	// nothing if another worker holds it.
	lost bool
}

// errLeaseLost is the cause of a job's context cancelled because its
// worker no longer holds its lease.
var errLeaseLost = errors.New("queue: the job's lease was lost (another worker may hold it now)")

// lease returns the claim of a running job.
func (e *execution) lease() driver.JobLease { return driver.LeaseOf(e.row) }

type fetchResult struct {
	rows []*driver.JobRow
	err  error
	max  int
	// start is when the claim began: the leases it took hold from then.
	start time.Time
	// written is how many outcomes the completer had written when the
	// claim began.
	written int64
}

// runner is the state of one Run: its producer loop owns every field
// that is not a channel.
type runner struct {
	c   *Client
	d   driver.Driver
	p   WorkParams
	log *slog.Logger
	out *printer

	jobCtx     context.Context // parent of the jobs' contexts
	cancelJobs context.CancelFunc
	done       chan struct{} // closed when the loop ends; unblocks job goroutines

	results   chan *execution
	abandonCh chan *execution
	fetchCh   chan fetchResult

	running   map[*execution]struct{}
	active    *activeJobs // the running jobs as the registry sees them; nil without one
	leaked    int
	claimed   int
	completer *completer
}

func newRunner(c *Client, p WorkParams) *runner {
	return &runner{
		c: c, d: c.driver, p: p,
		log:       c.logger.With("worker", c.cfg.WorkerID),
		results:   make(chan *execution, p.Concurrency),
		abandonCh: make(chan *execution, p.Concurrency),
		fetchCh:   make(chan fetchResult, maxInFlight),
		done:      make(chan struct{}),
		running:   map[*execution]struct{}{},
	}
}

func (r *runner) run(ctx context.Context) (retErr error) {
	// Storage calls outlive ctx: a graceful stop still completes, retries
	// and releases jobs. bgCancel ends them once the run is over.
	bg, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer bgCancel()
	r.jobCtx, r.cancelJobs = context.WithCancel(bg)
	defer r.cancelJobs()

	r.out = newPrinter(r.p.Output, r.p.JSON, r.log, r.c.cfg.Location)
	defer r.out.close()
	r.completer = newCompleter(bg, r.d, r.log, r.c.cfg.WorkerID, r.p.CompleteBatch, r.p.CompleteInterval)
	defer func() {
		// Nothing finished may be lost: flush what is left, however the
		// run ended, with a deadline of its own.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := r.completer.close(fctx); err != nil && retErr == nil {
			retErr = err
		}
	}()

	sub := r.c.notify.subscribe(r.p.Queues)
	defer r.c.notify.unsubscribe(sub)

	listening := make(chan bool, 1)
	if l, ok := r.d.(driver.Listener); ok {
		go r.listen(bg, l, sub, listening)
	}
	rw, err := newRestartWatch(ctx, r.d, r.p.RestartInterval, r.log)
	if err != nil {
		return err
	}
	rw.start(bg, r.done)
	restart := rw.restart

	defer r.register(bg)()
	r.c.beat.Store(time.Now().UnixNano())
	r.log.Info("queue: worker started", "connection", r.c.cfg.Connection, "queues", r.p.Queues, "concurrency", r.p.Concurrency)
	defer close(r.done)

	ctxDone := ctx.Done()
	plan := newClaimPlan(&r.p)
	defer plan.stop()
	st := newStopper(r.p.StopTimeout, min(r.p.AbandonGrace, time.Second), r.log)
	stop := func(kind stopKind, reason error, why string) { st.stop(kind, reason, why, len(r.running)) }
	hb := newHeartbeater(r.c.cfg.RetryAfter)
	defer hb.stop()
	// heartbeat sends the heartbeat that is due, unless one is under way.
	heartbeat := func() {
		if leases := hb.due(r.completer.held, r.running, time.Now()); len(leases) > 0 {
			go r.heartbeat(bg, leases, hb.done)
		}
	}
	var maxTimer <-chan time.Time
	if r.p.MaxTime > 0 {
		t := time.NewTimer(r.p.MaxTime)
		defer t.Stop()
		maxTimer = t.C
	}
	mem := newMemoryWatchdog(r.p.MemoryLimit, time.Second)
	defer mem.stop()

	// The loop claims jobs into free slots and dispatches them; every
	// other concern reaches it as an event.
	for {
		if !st.stopping() {
			free := r.p.Concurrency - len(r.running) - plan.inFlightMax
			if r.p.MaxJobs > 0 {
				free = min(free, r.p.MaxJobs-r.claimed-plan.inFlightMax)
			}
			if n := plan.next(free, len(r.running) == 0 && plan.inFlight == 0); n > 0 {
				go r.fetch(bg, n)
			}
		}
		if st.stopping() && len(r.running) == 0 && (plan.inFlight == 0 || st.forced) {
			break
		}

		select {
		case fr := <-r.fetchCh:
			plan.claimed(len(fr.rows), fr.max, fr.err)
			if fr.err != nil {
				if ctx.Err() == nil {
					r.log.Warn("queue: claim jobs", "error", fr.err)
				}
				break
			}
			r.dispatch(fr, st.stopping())
			if r.p.MaxJobs > 0 && r.claimed >= r.p.MaxJobs {
				stop(softStop, nil, "max jobs")
			}
			if len(fr.rows) == 0 && r.p.StopWhenEmpty && len(r.running) == 0 && plan.inFlight == 0 && !st.stopping() {
				// Retries written during or after this claim were not
				// visible to it: write them all and look once more before
				// calling the queue empty.
				r.completer.flush(bg)
				if r.completer.written.Load() == fr.written {
					stop(softStop, nil, "queue empty")
				} else {
					plan.want = true
				}
			}
		case e := <-r.results:
			if e.abandoned {
				r.leaked--
				break
			}
			r.finish(e, st.cancelled)
			plan.slotFreed()
		case e := <-r.abandonCh:
			if _, ok := r.running[e]; !ok {
				break
			}
			r.abandon(e)
			if r.leaked >= r.p.MaxAbandoned {
				r.log.Error("queue: too many abandoned jobs; stopping so the worker can be replaced", "abandoned", r.leaked)
				stop(softStop, ErrTooManyAbandoned, "too many abandoned jobs")
			}
			plan.want = true
		case <-plan.coalesce:
			plan.coalesceDone()
		case <-sub.ch:
			plan.want = true
		case plan.pushed = <-listening:
		case <-plan.poll.C:
			plan.want = true
		case <-hb.renewTicker.C:
			// Every lease this worker holds is due for renewal. A renewal
			// is never dropped: when a heartbeat is still under way, it
			// goes out as soon as that one returns.
			hb.renewDue = true
			r.expireUnrenewed()
			heartbeat()
		case <-hb.markTicker.C:
			r.c.beat.Store(time.Now().UnixNano())
			r.expireUnrenewed()
			hb.markDue = true
			heartbeat()
		case res := <-hb.done:
			hb.inFlight = false
			r.renewed(res)
			heartbeat()
		case <-restart:
			restart = nil
			stop(softStop, nil, "queue restart signal")
		case <-maxTimer:
			stop(softStop, nil, "max time")
		case <-mem.c():
			if used, over := mem.check(); over {
				r.log.Warn("queue: memory limit exceeded", "used_mb", used>>20, "limit_mb", r.p.MemoryLimit>>20)
				stop(softStop, ErrMemoryExceeded, "memory limit")
			}
		case <-ctxDone:
			ctxDone = nil
			stop(hardStop, nil, "signal")
		case <-st.timer:
			// Time is up: cancel the jobs, give them a moment to return,
			// then release whatever still runs.
			st.timedOut()
			r.cancelJobs()
			r.log.Warn("queue: stop timeout; cancelling running jobs", "running", len(r.running))
		case <-st.release:
			for e := range r.running {
				r.release(e, "released: still running at the stop timeout")
			}
			st.released()
		}
	}
	if st.reason != nil {
		return st.reason
	}
	r.log.Info("queue: worker stopped", "jobs", r.claimed)
	return nil
}

// dispatch starts the jobs of a claim, or, when the run began stopping
// while the claim was under way, gives them back untouched.
func (r *runner) dispatch(fr fetchResult, stopping bool) {
	for _, row := range fr.rows {
		r.claimed++
		if stopping {
			r.completer.retry(&driver.JobRetryParams{ID: row.ID, WorkerID: r.c.cfg.WorkerID, Claim: row.ClaimSeq,
				Snooze: true, Error: "released: worker stopping", Now: r.c.now()})
			continue
		}
		r.begin(row, fr.start)
	}
}

// fetch claims up to max jobs and hands them to the loop.
func (r *runner) fetch(ctx context.Context, max int) {
	written := r.completer.written.Load()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	rows, err := r.d.JobClaim(ctx, &driver.JobClaimParams{
		Queues: r.p.Queues, Max: max, WorkerID: r.c.cfg.WorkerID,
		RetryAfter: r.c.cfg.RetryAfter, Now: r.c.now(),
	})
	r.fetchCh <- fetchResult{rows: rows, err: err, max: max, written: written, start: start}
}

// storageTimeout bounds one claim, and one attempt to write outcomes: a
// call stuck on a connection whose server vanished is given up and tried
// again on a fresh one, instead of holding the worker.
const storageTimeout = 30 * time.Second

// begin resolves a claimed job's options and starts its goroutine, or
// settles it at once when it cannot run. claimed is when the claim that
// took it began.
func (r *runner) begin(row *driver.JobRow, claimed time.Time) {
	e := &execution{row: row, start: time.Now(), renewed: claimed, timeout: r.c.cfg.Timeout, backoff: r.c.cfg.Backoff, tries: row.MaxAttempts}
	p, err := DecodePayload(row.Payload)
	if err != nil {
		r.out.event(e, statusRunning, nil)
		r.settle(e, Permanent(err))
		return
	}
	e.payload = p
	if r.p.Tries != 0 {
		e.tries = max(r.p.Tries, 0)
	}
	if p.MaxTries != nil {
		e.tries = max(*p.MaxTries, 0)
	}
	if r.p.Timeout != 0 {
		e.timeout = r.p.Timeout
	}
	if t, ok := p.timeout(); ok {
		e.timeout = t
	}
	if len(r.p.Backoff) > 0 {
		e.backoff = r.p.Backoff
	}
	if b, err := p.backoffList(); err == nil && len(b) > 0 {
		e.backoff = b
	}
	r.out.event(e, statusRunning, nil)
	switch {
	case e.tries > 0 && row.Attempts > e.tries:
		// The worker of the last allowed attempt died or was abandoned.
		r.settle(e, Permanent(fmt.Errorf("queue: %s has been attempted too many times (%d of %d); its last attempt never finished", row.Kind, row.Attempts, e.tries)))
		return
	case p.RetryUntil != nil && !r.c.wallNow().Before(time.Unix(*p.RetryUntil, 0)):
		r.settle(e, Permanent(fmt.Errorf("queue: %s is past its retryUntil (%s)", row.Kind, time.Unix(*p.RetryUntil, 0).UTC().Format(time.RFC3339))))
		return
	}
	e.unit = r.c.workers.unit(row.Kind)
	if e.unit == nil {
		r.settle(e, fmt.Errorf("queue: no worker registered for kind %q", row.Kind))
		return
	}
	r.running[e] = struct{}{}
	r.active.add(row)
	var jctx context.Context
	jctx, e.cancel = context.WithCancelCause(r.jobCtx)
	if e.timeout > 0 {
		e.timer = time.AfterFunc(e.timeout+r.p.AbandonGrace, func() {
			select {
			case r.abandonCh <- e:
			case <-r.done:
			}
		})
	}
	go func() {
		returned := false
		defer func() {
			if !returned {
				// The handler called runtime.Goexit (t.FailNow in a test):
				// not a panic, but the attempt still failed.
				e.err = errors.New("queue: job handler exited its goroutine (runtime.Goexit)")
			}
			e.dur = time.Since(e.start)
			select {
			case r.results <- e:
			case <-r.done:
			}
		}()
		e.err = runAttempt(jctx, e.unit, nil, e.row, e.payload.Data, e.timeout)
		returned = true
	}()
}

// finish settles a job whose handler returned.
func (r *runner) finish(e *execution, stopping bool) {
	delete(r.running, e)
	r.active.remove(e.row.ID)
	if e.timer != nil {
		e.timer.Stop()
	}
	e.cancel(nil)
	if e.lost && e.err != nil {
		// Cancelled because its lease was lost: not the job's fault. The
		// release is written fenced, so it records nothing if another
		// worker holds the job now.
		r.release(e, "released: "+errLeaseLost.Error())
		return
	}
	if stopping && e.err != nil {
		// Cancelled by the stop timeout: not the job's fault.
		r.release(e, "released: cancelled at the stop timeout: "+e.err.Error())
		return
	}
	r.settle(e, e.err)
}

// abandon gives up on a job that ignored its timeout: its attempt is
// recorded and its slot reused; its goroutine is counted until it returns.
func (r *runner) abandon(e *execution) {
	delete(r.running, e)
	r.active.remove(e.row.ID)
	e.cancel(nil)
	e.abandoned = true
	r.leaked++
	e.dur = time.Since(e.start)
	r.log.Warn("queue: job ignored its timeout; abandoned", "job", e.row.Kind, "id", e.row.ID, "timeout", e.timeout, "abandoned", r.leaked)
	r.settle(e, &timeoutError{timeout: e.timeout, abandoned: true})
}

// release gives a job back without charging its attempt.
func (r *runner) release(e *execution, why string) {
	delete(r.running, e)
	r.active.remove(e.row.ID)
	if e.timer != nil {
		e.timer.Stop()
	}
	r.completer.retry(&driver.JobRetryParams{ID: e.row.ID, WorkerID: r.c.cfg.WorkerID, Claim: e.row.ClaimSeq,
		Snooze: true, Error: r.c.scrub(why), Now: r.c.now()})
	r.out.event(e, statusReleased, nil)
}

// settle records the outcome of an attempt: complete, snooze, retry or
// fail for good.
func (r *runner) settle(e *execution, err error) {
	if e.dur == 0 {
		e.dur = time.Since(e.start)
	}
	row := e.row
	if err == nil {
		r.completer.complete(driver.LeaseOf(row))
		r.out.event(e, statusDone, nil)
		return
	}
	if d, ok := IsSnooze(err); ok && !IsPermanent(err) {
		r.completer.retry(&driver.JobRetryParams{ID: row.ID, WorkerID: r.c.cfg.WorkerID, Claim: row.ClaimSeq,
			Delay: d, Snooze: true, Error: r.c.scrub(err.Error()), Now: r.c.now()})
		r.out.event(e, statusReleased, err)
		return
	}
	final := IsPermanent(err) || (e.tries > 0 && row.Attempts >= e.tries)
	var delay time.Duration
	if !final {
		delay = retryDelay(e.backoff, row.Attempts)
		if e.payload != nil && e.payload.RetryUntil != nil &&
			!r.c.wallNow().Add(delay).Before(time.Unix(*e.payload.RetryUntil, 0)) {
			final = true
		}
	}
	chain := r.c.scrub(ErrorChain(err))
	errorLog := driver.AppendErrorLog(row.ErrorLog, driver.AttemptError{Attempt: row.Attempts, At: r.c.wallNow().Unix(), Error: chain})
	if final {
		r.completer.fail(&driver.JobFailParams{ID: row.ID, WorkerID: r.c.cfg.WorkerID, Claim: row.ClaimSeq,
			Connection: r.c.cfg.Connection, Exception: chain, ErrorLog: errorLog, Now: r.c.now()})
		r.out.event(e, statusFailed, err)
		r.log.Error("queue: job failed", "job", row.Kind, "id", row.ID, "uuid", row.UUID, "queue", row.Queue,
			"attempt", row.Attempts, "error", err)
		return
	}
	r.completer.retry(&driver.JobRetryParams{ID: row.ID, WorkerID: r.c.cfg.WorkerID, Claim: row.ClaimSeq,
		Delay: delay, Error: chain, ErrorLog: errorLog, Now: r.c.now()})
	r.out.event(e, statusRetry, err)
	r.log.Warn("queue: job attempt failed; will retry", "job", row.Kind, "id", row.ID, "queue", row.Queue,
		"attempt", row.Attempts, "retry_in", delay.Round(time.Millisecond).String(), "error", err)
}

// listen relays the driver's insert events to the loop, reconnecting with
// a pause when the listener fails; listening tells the loop whether pushes
// arrive, so it can poll less.
func (r *runner) listen(ctx context.Context, l driver.Listener, sub *subscription, listening chan bool) {
	set := func(v bool) {
		select {
		case <-listening:
		default:
		}
		listening <- v
	}
	for ctx.Err() == nil {
		set(true)
		err := l.Listen(ctx, func(q string) {
			if sub.queues[q] {
				sub.wake()
			}
		})
		set(false)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("queue: listen for inserts; polling meanwhile", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
