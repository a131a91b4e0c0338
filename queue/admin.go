package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// ErrNoAdmin is returned when the client's driver cannot be operated on
// (it does not implement driver.Admin, or the capability of it asked
// for, such as driver.Batches), such as the sync connection.
var ErrNoAdmin = errors.New("queue: this connection has no failed-job, batch or pause storage")

// ErrSkip, returned by Hooks.BeforeRun, completes a job without running
// it: a job of a cancelled batch.
var ErrSkip = errors.New("queue: job skipped")

// Admin returns the operator's storage of the client's driver.
func (c *Client) Admin() (driver.Admin, error) {
	if c.driver == nil {
		return nil, ErrNoAdmin
	}
	adm, ok := c.driver.(driver.Admin)
	if !ok {
		return nil, ErrNoAdmin
	}
	return adm, nil
}

// OutcomeStatus says how one attempt of a job ended.
type OutcomeStatus int

// The outcomes the worker reports to Hooks.AfterRun.
const (
	// OutcomeSucceeded: the job completed (or was skipped with ErrSkip).
	OutcomeSucceeded OutcomeStatus = iota
	// OutcomeFailed: the job failed for good and moved to failed_jobs.
	OutcomeFailed
	// OutcomeRetried: the attempt failed and the job will run again.
	OutcomeRetried
	// OutcomeReleased: the job went back without using an attempt
	// (snoozed, released by middleware, or stopped with the worker).
	OutcomeReleased
	// OutcomeLeaseLost: the worker no longer held the job when it went to
	// record the attempt's end (it stalled past its lease and another
	// worker took the job over, or the job was deleted), so nothing was
	// written: the job's current holder decides its fate.
	OutcomeLeaseLost
)

// Outcome is how one attempt ended.
type Outcome struct {
	Status OutcomeStatus
	Err    error
	// Runtime is how long the handler ran (0 when it never started).
	Runtime time.Duration
}

// Hooks are the points at which the worker loop calls the operations
// layer (pauses, batches, job middleware, metrics). *Ops implements them;
// a nil Hooks costs nothing.
type Hooks interface {
	// ClaimQueues returns the queues to claim from now: queues without
	// the paused ones, in the same order. It is called before every claim
	// and must be cheap (Ops reads the pauses at most once a second).
	ClaimQueues(ctx context.Context, queues []string) []string
	// BeforeRun is called with each claimed job before its handler. nil
	// runs the job; ErrSkip completes it without running; a Snooze error
	// releases it without using an attempt; any other error is the
	// attempt's error.
	BeforeRun(ctx context.Context, row *driver.JobRow) error
	// BeforeOutcome is called with each job whose attempt has ended,
	// before its outcome is written. What must survive the process dying
	// between the two — a batch's counters and callbacks — is written here,
	// idempotently: when the outcome never gets written, the job runs
	// again after its lease and comes back here. An error leaves the
	// outcome unwritten, for the worker to try again.
	BeforeOutcome(ctx context.Context, row *driver.JobRow, o Outcome) error
	// AfterRun is called once per claimed job when its attempt has ended,
	// whatever the outcome, including jobs BeforeRun skipped or released.
	AfterRun(ctx context.Context, row *driver.JobRow, o Outcome)
}

// OpsConfig configures Ops.
type OpsConfig struct {
	// Logger receives the hooks' own warnings. Nil discards them.
	Logger *slog.Logger
	// PauseRefresh is how often paused queues are re-read (1s).
	PauseRefresh time.Duration
	// MetricsFlush is how often metrics are written (10s).
	MetricsFlush time.Duration
	// KeepCompleted keeps completed jobs in completed_jobs as history
	// (pruned by Pruner); by default completed jobs are deleted.
	KeepCompleted bool
	// MonitoredKeep, when positive, keeps the completed jobs of monitored
	// tags (driver.TagMonitor) for that long, whether or not KeepCompleted
	// is set.
	MonitoredKeep time.Duration
	// DisableMetrics stops recording job_metrics.
	DisableMetrics bool
	// Observers are called after each attempt's bookkeeping, in order,
	// with the job and how its attempt ended: Prometheus metrics and
	// failure notifications watch the worker through them. They run on
	// the worker's goroutine and must return quickly.
	Observers []func(ctx context.Context, row *driver.JobRow, o Outcome)
	// ScrubError, when set, rewrites the error text of a job released by
	// a hook before it is stored in jobs.last_error, as Config.ScrubError
	// does for the worker's own.
	ScrubError func(string) string
}

// Ops is the operations layer the worker calls through Hooks: it leaves
// paused queues alone, skips jobs of cancelled batches and keeps batch
// counters and callbacks, applies job middleware (WithoutOverlapping,
// RateLimited) and records per-minute metrics. Create it with NewOps,
// pass it as the worker's hooks and Close it after the worker stops.
type Ops struct {
	d   driver.Driver
	adm driver.Admin
	log *slog.Logger
	cfg OpsConfig

	pauseMu   sync.Mutex
	pausedAt  time.Time
	paused    map[string]bool
	pauseRead bool

	mwMu       sync.RWMutex
	middleware map[string]func(data []byte) ([]Middleware, error)
	heldMu     sync.Mutex
	held       map[driver.JobLease][]Middleware

	batchMu sync.Mutex
	batches map[string]batchState

	metrics *recorder
}

var _ Hooks = (*Ops)(nil)

// NewOps returns the operations layer over d, which must implement
// driver.Admin. Give it to the worker with WithHooks (or the engine's
// hooks setting) and Close it after the worker stops.
func NewOps(d driver.Driver, cfg *OpsConfig) (*Ops, error) {
	adm, ok := d.(driver.Admin)
	if !ok {
		return nil, ErrNoAdmin
	}
	o := &Ops{d: d, adm: adm, middleware: map[string]func([]byte) ([]Middleware, error){},
		held: map[driver.JobLease][]Middleware{}, batches: map[string]batchState{}}
	if cfg != nil {
		o.cfg = *cfg
	}
	o.log = o.cfg.Logger
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.cfg.PauseRefresh <= 0 {
		o.cfg.PauseRefresh = time.Second
	}
	if o.cfg.MetricsFlush <= 0 {
		o.cfg.MetricsFlush = 10 * time.Second
	}
	if !o.cfg.DisableMetrics || o.cfg.KeepCompleted || o.cfg.MonitoredKeep > 0 {
		tm, _ := d.(driver.TagMonitor)
		o.metrics = newRecorder(adm, o.log, o.cfg.MetricsFlush, !o.cfg.DisableMetrics, o.cfg.KeepCompleted, tm, o.cfg.MonitoredKeep)
	}
	return o, nil
}

// Close writes the metrics still in memory and stops the flusher.
func (o *Ops) Close(ctx context.Context) error {
	if o.metrics == nil {
		return nil
	}
	return o.metrics.close(ctx)
}

// Flush writes the metrics gathered so far now.
func (o *Ops) Flush(ctx context.Context) error {
	if o.metrics == nil {
		return nil
	}
	return o.metrics.flush(ctx)
}

// ClaimQueues drops paused queues from queues. When the pauses cannot be
// read, the last known ones apply (none before the first read), so a
// database hiccup never stops the workers.
func (o *Ops) ClaimQueues(ctx context.Context, queues []string) []string {
	paused := o.pausedQueues(ctx)
	if len(paused) == 0 {
		return queues
	}
	out := make([]string, 0, len(queues))
	for _, q := range queues {
		if !paused[q] {
			out = append(out, q)
		}
	}
	return out
}

func (o *Ops) pausedQueues(ctx context.Context) map[string]bool {
	o.pauseMu.Lock()
	defer o.pauseMu.Unlock()
	if o.pauseRead && time.Since(o.pausedAt) < o.cfg.PauseRefresh {
		return o.paused
	}
	list, err := o.adm.QueuePausedList(ctx)
	o.pausedAt = time.Now()
	if err != nil {
		o.log.Warn("queue: read paused queues", "error", err)
		return o.paused
	}
	m := make(map[string]bool, len(list))
	for _, p := range list {
		m[p.Queue] = true
	}
	o.paused, o.pauseRead = m, true
	return m
}

// BeforeRun skips jobs of cancelled batches and applies the kind's
// middleware in order; a middleware that refuses releases the job and
// undoes the ones before it.
func (o *Ops) BeforeRun(ctx context.Context, row *driver.JobRow) error {
	if row.BatchID != "" && o.batchCancelled(ctx, row) {
		return ErrSkip
	}
	mws, err := o.middlewareFor(row)
	if err != nil || len(mws) == 0 {
		return err
	}
	var passed []Middleware
	for _, m := range mws {
		release, err := m.Before(ctx, o.adm, row)
		if err != nil || release > 0 {
			for i := len(passed) - 1; i >= 0; i-- {
				passed[i].After(ctx, o.adm, row)
			}
			if err != nil {
				return err
			}
			return Snooze(release)
		}
		passed = append(passed, m)
	}
	o.heldMu.Lock()
	o.held[driver.LeaseOf(row)] = passed
	o.heldMu.Unlock()
	return nil
}

// batchCancelled reports whether row's batch was cancelled. A batch read
// as running is read again after PauseRefresh, so that a claim of many jobs
// of one batch costs one read; a cancelled one stays cancelled.
func (o *Ops) batchCancelled(ctx context.Context, row *driver.JobRow) bool {
	o.batchMu.Lock()
	st, ok := o.batches[row.BatchID]
	o.batchMu.Unlock()
	if ok && (st.cancelled || time.Since(st.at) < o.cfg.PauseRefresh) {
		return st.cancelled
	}
	bt, err := o.adm.BatchGet(ctx, row.BatchID)
	if err != nil {
		if !errors.Is(err, driver.ErrNotFound) {
			o.log.Warn("queue: read batch of job", "batch", row.BatchID, "job", row.Kind, "error", err)
		}
		return false
	}
	o.batchMu.Lock()
	if len(o.batches) > 10000 {
		o.batches = map[string]batchState{}
	}
	o.batches[row.BatchID] = batchState{cancelled: bt.Cancelled(), at: time.Now()}
	o.batchMu.Unlock()
	return bt.Cancelled()
}

type batchState struct {
	cancelled bool
	at        time.Time
}

// AfterRun ends the job's middleware, records its batch outcome and
// fires the batch's callbacks, and counts it in the metrics.
func (o *Ops) AfterRun(ctx context.Context, row *driver.JobRow, out Outcome) {
	// The job has ended: its bookkeeping must be written even while the
	// worker is stopping.
	ctx = context.WithoutCancel(ctx)
	o.heldMu.Lock()
	mws := o.held[driver.LeaseOf(row)]
	delete(o.held, driver.LeaseOf(row))
	o.heldMu.Unlock()
	// A worker that lost the job's lease leaves its middleware alone: the
	// job's new holder, the same job, may hold the same locks now.
	if out.Status != OutcomeLeaseLost {
		for i := len(mws) - 1; i >= 0; i-- {
			mws[i].After(ctx, o.adm, row)
		}
	}
	if o.metrics != nil {
		o.metrics.record(row, out)
	}
	for _, fn := range o.cfg.Observers {
		fn(ctx, row, out)
	}
}

// BeforeOutcome records a batch job's end in its batch (and dispatches
// the callbacks whose moment it is) before the job's outcome is written.
// Recording is idempotent per job, so a job that runs again because its
// worker died before its outcome was written is not counted twice.
func (o *Ops) BeforeOutcome(ctx context.Context, row *driver.JobRow, out Outcome) error {
	if row.BatchID == "" || (out.Status != OutcomeSucceeded && out.Status != OutcomeFailed) {
		return nil
	}
	if err := o.recordBatch(context.WithoutCancel(ctx), row, out.Status == OutcomeFailed); err != nil {
		o.log.Error("queue: record batch outcome; the job's outcome waits for it", "batch", row.BatchID, "job", row.Kind, "uuid", row.UUID, "error", err)
		return err
	}
	return nil
}

// RetentionConfig says how long Pruner keeps each kind of record; zero
// keeps it forever.
type RetentionConfig struct {
	FailedJobs    time.Duration
	Batches       time.Duration
	CompletedJobs time.Duration
	// Metrics is how long job_metrics and job_class_metrics are kept.
	Metrics time.Duration
	// ClassMetricsMinutes is how long job_class_metrics keeps minutes
	// before they are rolled up into hours: ClassMetricsMinutesDefault
	// when zero; a negative value never rolls them up. Minutes are rolled
	// up only when Metrics is set.
	ClassMetricsMinutes time.Duration
	// RateLimits is how long the row of a limiter window is kept after
	// the window ended, when the Admin is a driver.RateLimitPruner.
	RateLimits time.Duration
	// Processes is how long the row of a process that stopped
	// heartbeating without a clean stop is kept: StaleProcessAge when
	// zero; a negative value keeps them.
	Processes time.Duration
	// ChunkSize caps the rows one statement deletes (1000 when zero).
	// Metrics, completed jobs and batches are deleted in chunks only when
	// the Admin is a driver.ChunkPruner; failed jobs always are.
	ChunkSize int
	// Interval between two prunes (1h).
	Interval time.Duration
}

// Pruner deletes old failed jobs, finished batches, completed-job
// history, metrics (rolling up the minutes of job classes into hours after
// a day), limiter windows that are over and the registry rows
// of dead processes on an interval, so that none of those tables grows
// without bound. Its Run has
// the shape of the other background services.
type Pruner struct {
	adm driver.Admin
	cfg RetentionConfig
	log *slog.Logger
}

// NewPruner returns a pruner over adm.
func NewPruner(adm driver.Admin, cfg RetentionConfig, log *slog.Logger) *Pruner {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pruner{adm: adm, cfg: cfg, log: log}
}

// PruneResult is what one prune did to one table.
type PruneResult struct {
	// Table is the table pruned.
	Table string
	// Rows is the number of rows deleted, also when Err is set: the
	// chunks deleted before a failure stay deleted.
	Rows int
	Err  error
	// Took is how long the prune ran.
	Took time.Duration
}

// Prune runs every configured prune once, one table after the other, and
// returns what each did. A table that fails does not stop the others; a
// cancelled ctx stops the tables not yet started, which are left out.
func (p *Pruner) Prune(ctx context.Context) []PruneResult {
	var out []PruneResult
	p.PruneEach(ctx, func(r PruneResult) { out = append(out, r) })
	return out
}

// PruneEach is Prune, handing each table's result to fn as soon as that
// table is done, so that a long prune can be followed.
func (p *Pruner) PruneEach(ctx context.Context, fn func(PruneResult)) {
	run := func(table string, prune func() (int, error)) {
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		n, err := prune()
		fn(PruneResult{Table: table, Rows: n, Err: err, Took: time.Since(start)})
	}
	chunks, _ := p.adm.(driver.ChunkPruner)
	if p.cfg.FailedJobs > 0 {
		run("failed_jobs", func() (int, error) {
			return p.adm.FailedPrune(ctx, &driver.FailedPruneParams{OlderThan: p.cfg.FailedJobs, ChunkSize: p.cfg.ChunkSize})
		})
	}
	if p.cfg.Batches > 0 {
		bp := driver.BatchPruneParams{OlderThan: p.cfg.Batches, Unfinished: 3 * p.cfg.Batches, Cancelled: 3 * p.cfg.Batches}
		run("job_batches", func() (int, error) {
			if chunks != nil {
				return chunks.BatchPruneChunks(ctx, &driver.BatchPruneChunksParams{BatchPruneParams: bp, ChunkSize: p.cfg.ChunkSize})
			}
			return p.adm.BatchPrune(ctx, &bp)
		})
	}
	if p.cfg.CompletedJobs > 0 {
		run("completed_jobs", func() (int, error) {
			if chunks != nil {
				return chunks.CompletedPruneChunks(ctx, &driver.PruneChunksParams{OlderThan: p.cfg.CompletedJobs, ChunkSize: p.cfg.ChunkSize})
			}
			return p.adm.CompletedPrune(ctx, p.cfg.CompletedJobs)
		})
	}
	if p.cfg.Metrics > 0 {
		run("job_metrics", func() (int, error) {
			if chunks != nil {
				return chunks.JobMetricsPruneChunks(ctx, &driver.PruneChunksParams{OlderThan: p.cfg.Metrics, ChunkSize: p.cfg.ChunkSize})
			}
			return p.adm.JobMetricsPrune(ctx, p.cfg.Metrics)
		})
		run("job_class_metrics", func() (int, error) { return p.adm.JobClassMetricsPrune(ctx, p.cfg.Metrics) })
		// The minutes of job classes become hours after a day (after the
		// prune, which would delete some of them anyway): the dashboard's
		// week stays a few hundred points per class. Metrics kept forever
		// keep their minutes too.
		if age := p.classMinutesAge(); age > 0 {
			run("job_class_metrics (minutes into hours)", func() (int, error) {
				return p.adm.JobClassMetricsRollup(ctx, &driver.JobClassMetricsRollupParams{OlderThan: age})
			})
		}
	}
	// The limiter windows that are over count nothing.
	if rl, ok := p.adm.(driver.RateLimitPruner); ok && p.cfg.RateLimits > 0 {
		run("queue_rate_limits", func() (int, error) {
			return rl.RateLimitPrune(ctx, &driver.PruneChunksParams{OlderThan: p.cfg.RateLimits, ChunkSize: p.cfg.ChunkSize})
		})
	}
	// Rows of processes that died without a clean stop are worth nothing
	// after StaleProcessAge, unless configured otherwise.
	if age := p.processAge(); age > 0 {
		if reg, ok := p.adm.(driver.Registry); ok {
			run("queue_processes", func() (int, error) { return reg.ProcessPrune(ctx, age) })
		}
	}
}

// ClassMetricsMinutesDefault is how long job_class_metrics keeps minutes
// before they are rolled up into hours, unless configured otherwise.
const ClassMetricsMinutesDefault = 24 * time.Hour

func (p *Pruner) classMinutesAge() time.Duration {
	if p.cfg.ClassMetricsMinutes == 0 {
		return ClassMetricsMinutesDefault
	}
	return p.cfg.ClassMetricsMinutes
}

func (p *Pruner) processAge() time.Duration {
	if p.cfg.Processes == 0 {
		return StaleProcessAge
	}
	return p.cfg.Processes
}

// PruneOnce runs every configured prune once and returns the rows deleted.
func (p *Pruner) PruneOnce(ctx context.Context) (int, error) {
	total := 0
	var errs []error
	for _, r := range p.Prune(ctx) {
		total += r.Rows
		if r.Err != nil {
			errs = append(errs, r.Err)
		} else if r.Rows > 0 {
			p.log.Info("queue: pruned", "what", r.Table, "rows", r.Rows)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("queue: prune: %w", err)
	}
	return total, nil
}

// Run prunes every Interval until ctx ends.
func (p *Pruner) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := p.PruneOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("queue: prune", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// WithHooks returns d with h called around every job the engine works,
// without the engine knowing: claims skip the queues h leaves out, each
// claimed job passes h.BeforeRun (a job it skips is completed, one it
// releases goes back without using an attempt, and neither reaches the
// engine), and h.AfterRun hears of each job once its outcome has been
// written. The result implements driver.Admin, driver.Listener when d
// does, and driver.Registry and driver.JobBrowser when d has both (they
// pass by the hooks); its Unwrap method returns d. A job's runtime is
// measured from its claim to its outcome's write.
func WithHooks(d driver.Driver, h Hooks) driver.Driver {
	adm, _ := d.(driver.Admin)
	hd := &hookedDriver{Driver: d, Admin: adm, h: h, rows: map[driver.JobLease]claimedRow{}}
	if l, ok := d.(driver.Listener); ok {
		return withRegistry(&hookedListener{hookedDriver: hd, l: l}, d)
	}
	return withRegistry(hd, d)
}

// errorScrubber is an optional capability of Hooks: Ops has it, from
// OpsConfig.ScrubError.
type errorScrubber interface {
	scrubError(string) string
}

func (o *Ops) scrubError(s string) string {
	if o.cfg.ScrubError == nil {
		return s
	}
	return o.cfg.ScrubError(s)
}

type claimedRow struct {
	row   *driver.JobRow
	start time.Time
}

type hookedDriver struct {
	driver.Driver
	driver.Admin
	h Hooks

	mu sync.Mutex
	// rows are the jobs claimed and not settled yet, by claim: the same
	// job claimed again by this process is another entry.
	rows map[driver.JobLease]claimedRow
}

type hookedListener struct {
	*hookedDriver
	l driver.Listener
}

// The hooked drivers keep the Admin of the driver they wrap, each of its
// capabilities with it.
var (
	_ driver.Admin    = (*hookedDriver)(nil)
	_ driver.Admin    = (*hookedListener)(nil)
	_ driver.Listener = (*hookedListener)(nil)
)

// Listen relays the wrapped driver's insert events.
func (d *hookedListener) Listen(ctx context.Context, fn func(queue string)) error {
	return d.l.Listen(ctx, fn)
}

// JobClaim claims from the queues the hooks allow and passes each job
// through BeforeRun. When every job claimed was skipped it claims again,
// so that a worker does not take a queue for empty (--stop-when-empty)
// while it still holds jobs, such as the callbacks the skips dispatched.
func (d *hookedDriver) JobClaim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, error) {
	for range 100 {
		rows, skipped, err := d.claim(ctx, p)
		if err != nil || len(rows) > 0 || skipped == 0 {
			return rows, err
		}
	}
	return nil, nil
}

func (d *hookedDriver) claim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, int, error) {
	queues := d.h.ClaimQueues(ctx, p.Queues)
	if len(queues) == 0 {
		return nil, 0, nil
	}
	cp := *p
	cp.Queues = queues
	rows, err := d.Driver.JobClaim(ctx, &cp)
	if err != nil || len(rows) == 0 {
		return rows, 0, err
	}
	out := rows[:0:0]
	var (
		skipped  []*driver.JobRow
		released []*driver.JobRow
		retries  []*driver.JobRetryParams
	)
	for _, row := range rows {
		err := d.h.BeforeRun(ctx, row)
		switch {
		case err == nil:
			d.mu.Lock()
			d.rows[driver.LeaseOf(row)] = claimedRow{row: row, start: time.Now()}
			d.mu.Unlock()
			out = append(out, row)
		case errors.Is(err, ErrSkip):
			skipped = append(skipped, row)
		default:
			// A release, or a middleware that could not decide (its
			// storage failed): either way not the job's fault.
			delay, ok := IsSnooze(err)
			if !ok {
				delay = time.Second
			}
			released = append(released, row)
			msg := err.Error()
			if sc, ok := d.h.(errorScrubber); ok {
				msg = sc.scrubError(msg)
			}
			retries = append(retries, &driver.JobRetryParams{ID: row.ID, WorkerID: p.WorkerID, Claim: row.ClaimSeq,
				Delay: delay, Snooze: true, Error: msg, Now: p.Now})
		}
	}
	if len(skipped) > 0 {
		cp := &driver.JobCompleteParams{WorkerID: p.WorkerID}
		for _, r := range skipped {
			cp.Jobs = append(cp.Jobs, driver.LeaseOf(r))
		}
		for _, r := range skipped {
			if err := d.h.BeforeOutcome(ctx, r, Outcome{Status: OutcomeSucceeded}); err != nil {
				// They stay reserved and are skipped again after their
				// lease.
				return out, 0, nil
			}
		}
		stale, err := d.Driver.JobCompleteMany(ctx, cp)
		if err != nil {
			// They stay reserved: their lease ends and they are skipped
			// again. The jobs to run must not be lost meanwhile.
			return out, 0, nil
		}
		lost := idSet(stale)
		for _, r := range skipped {
			d.h.AfterRun(ctx, r, Outcome{Status: outcomeOr(OutcomeSucceeded, lost[r.ID])})
		}
	}
	if len(retries) > 0 {
		stale, err := d.Driver.JobRetryMany(ctx, retries)
		if err != nil {
			return out, len(skipped), nil // released when their lease ends
		}
		lost := idSet(stale)
		for i, r := range released {
			d.h.AfterRun(ctx, r, Outcome{Status: outcomeOr(OutcomeReleased, lost[r.ID]), Err: errors.New(retries[i].Error)})
		}
	}
	return out, len(skipped), nil
}

// idSet returns ids as a set.
func idSet(ids []int64) map[int64]bool {
	if len(ids) == 0 {
		return nil
	}
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// outcomeOr returns OutcomeLeaseLost when the write of st was stale.
func outcomeOr(st OutcomeStatus, stale bool) OutcomeStatus {
	if stale {
		return OutcomeLeaseLost
	}
	return st
}

// peek returns a claimed job's row without forgetting it.
func (d *hookedDriver) peek(l driver.JobLease) (claimedRow, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.rows[l]
	return c, ok
}

func (d *hookedDriver) take(l driver.JobLease) (claimedRow, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.rows[l]
	delete(d.rows, l)
	return c, ok
}

// deferredError reports the jobs whose outcome was not written because
// BeforeOutcome failed for them; the outcomes of the others were. The
// completer keeps the deferred ones for a later write.
type deferredError struct {
	ids []int64
	err error
}

func (e *deferredError) Error() string {
	return fmt.Sprintf("queue: the outcome of %d jobs waits for their bookkeeping: %v", len(e.ids), e.err)
}

func (e *deferredError) Unwrap() error { return e.err }

// before passes each claimed job of leases to BeforeOutcome with its
// status, and returns the indexes of those that may be written now and
// the error of those that may not.
func (d *hookedDriver) before(ctx context.Context, leases []driver.JobLease, status func(i int) Outcome) (ok []int, deferred *deferredError) {
	for i, l := range leases {
		if c, found := d.peek(l); found {
			if err := d.h.BeforeOutcome(ctx, c.row, status(i)); err != nil {
				if deferred == nil {
					deferred = &deferredError{err: err}
				}
				deferred.ids = append(deferred.ids, l.ID)
				continue
			}
		}
		ok = append(ok, i)
	}
	return ok, deferred
}

// settled reports the jobs whose outcome was written to AfterRun: as
// status, or lost when their claim no longer held.
func (d *hookedDriver) settled(ctx context.Context, leases []driver.JobLease, stale []int64, out func(i int) Outcome) {
	lost := idSet(stale)
	for i, l := range leases {
		if c, ok := d.take(l); ok {
			o := out(i)
			o.Status = outcomeOr(o.Status, lost[l.ID])
			o.Runtime = time.Since(c.start)
			d.h.AfterRun(ctx, c.row, o)
		}
	}
}

// pick returns the elements of xs at the indexes idx.
func pick[T any](xs []T, idx []int) []T {
	if len(idx) == len(xs) {
		return xs
	}
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// JobCompleteMany completes jobs, then reports them succeeded, or lost
// when their claim no longer held. A job whose bookkeeping fails is left
// out and reported in a *deferredError.
func (d *hookedDriver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	ok, deferred := d.before(ctx, p.Jobs, func(int) Outcome { return Outcome{Status: OutcomeSucceeded} })
	var stale []int64
	if len(ok) > 0 {
		np := &driver.JobCompleteParams{WorkerID: p.WorkerID, Jobs: pick(p.Jobs, ok)}
		var err error
		if stale, err = d.Driver.JobCompleteMany(ctx, np); err != nil {
			return nil, err
		}
		d.settled(ctx, np.Jobs, stale, func(int) Outcome { return Outcome{Status: OutcomeSucceeded} })
	}
	if deferred != nil {
		return stale, deferred
	}
	return stale, nil
}

// JobRetryMany retries jobs, then reports them retried or released, or
// lost when their claim no longer held.
func (d *hookedDriver) JobRetryMany(ctx context.Context, params []*driver.JobRetryParams) ([]int64, error) {
	leases := make([]driver.JobLease, len(params))
	for i, p := range params {
		leases[i] = driver.JobLease{ID: p.ID, Claim: p.Claim}
	}
	status := func(p *driver.JobRetryParams) Outcome {
		if p.Snooze {
			return Outcome{Status: OutcomeReleased, Err: errors.New(p.Error)}
		}
		return Outcome{Status: OutcomeRetried, Err: errors.New(p.Error)}
	}
	ok, deferred := d.before(ctx, leases, func(i int) Outcome { return status(params[i]) })
	var stale []int64
	if len(ok) > 0 {
		np := pick(params, ok)
		var err error
		if stale, err = d.Driver.JobRetryMany(ctx, np); err != nil {
			return nil, err
		}
		d.settled(ctx, pick(leases, ok), stale, func(i int) Outcome { return status(np[i]) })
	}
	if deferred != nil {
		return stale, deferred
	}
	return stale, nil
}

// JobFailMany fails jobs for good, then reports them failed, or lost
// when their claim no longer held.
func (d *hookedDriver) JobFailMany(ctx context.Context, params []*driver.JobFailParams) ([]int64, error) {
	leases := make([]driver.JobLease, len(params))
	for i, p := range params {
		leases[i] = driver.JobLease{ID: p.ID, Claim: p.Claim}
	}
	ok, deferred := d.before(ctx, leases, func(int) Outcome { return Outcome{Status: OutcomeFailed} })
	var stale []int64
	if len(ok) > 0 {
		np := pick(params, ok)
		var err error
		if stale, err = d.Driver.JobFailMany(ctx, np); err != nil {
			return nil, err
		}
		d.settled(ctx, pick(leases, ok), stale, func(i int) Outcome {
			return Outcome{Status: OutcomeFailed, Err: errors.New(np[i].Exception)}
		})
	}
	if deferred != nil {
		return stale, deferred
	}
	return stale, nil
}

// PruneArgs is the job that prunes the queue's tables once, for the
// scheduler to dispatch (as Laravel schedules queue:prune-failed and
// queue:prune-batches). Hours of zero keep that table's rows.
type PruneArgs struct {
	FailedHours    int `json:"failed_hours,omitempty"`
	BatchHours     int `json:"batch_hours,omitempty"`
	CompletedHours int `json:"completed_hours,omitempty"`
	MetricsHours   int `json:"metrics_hours,omitempty"`
}

// Kind returns "PruneQueueTables".
func (PruneArgs) Kind() string { return "PruneQueueTables" }

// AddPruneWorker registers the worker of PruneArgs on ws, pruning through
// adm.
func AddPruneWorker(ws *Workers, adm driver.Admin) {
	AddWorker(ws, WorkFunc(func(ctx context.Context, job *Job[PruneArgs]) error {
		h := func(n int) time.Duration { return time.Duration(max(n, 0)) * time.Hour }
		a := job.Args
		_, err := NewPruner(adm, RetentionConfig{
			FailedJobs: h(a.FailedHours), Batches: h(a.BatchHours),
			CompletedJobs: h(a.CompletedHours), Metrics: h(a.MetricsHours),
		}, nil).PruneOnce(ctx)
		return err
	}))
}
