// Package retention deletes the records Tripin no longer needs, so that
// no table grows without bound: the queue's failed jobs, batches, history,
// metrics, limiter windows that are over and dead processes (through the
// queue's own Pruner), and the application's idempotency keys, sent-email
// records, payment notifications, operator notifications, scheduler runs
// and expired tokens (through the store). How long each is kept comes from the
// configuration (config.Retention); zero keeps that kind forever.
//
// The work is the PruneOldRecords job, which the scheduler dispatches every
// hour from one server (the prune-old-records event). Any worker runs it,
// whatever the queue connection: the tables it prunes are always in the
// database, also when the jobs themselves live in Redis. Every prune
// deletes in chunks, each in a short transaction of its own, so that
// bookings and workers are never held up for long; a run stops after a
// time budget and leaves the rest to the next one.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// PruneOldRecords is the job that prunes every table once.
type PruneOldRecords struct{}

// Kind names the job.
func (PruneOldRecords) Kind() string { return "PruneOldRecords" }

// InsertOpts are the job's defaults: the default queue, which every
// worker takes; one try, since the next hour's run picks up whatever this
// one left; and a timeout that leaves the budget room to finish its last
// chunk.
func (PruneOldRecords) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: "default", Tries: 1, Timeout: DefaultBudget + 10*time.Minute}
}

// DefaultBudget bounds one run. A backlog larger than a run can delete
// (the first run on a database that was never pruned) is worked off over
// several hours instead of occupying a worker for long.
const DefaultBudget = 20 * time.Minute

// OverlapExpiry is the expiry of the scheduled event's WithoutOverlapping
// lock. The lock is freed as soon as the scheduler sees the job gone, on
// the database and redis connections alike; the expiry only bounds a lock
// whose job can no longer be seen: under an hour, so that an hourly event
// runs every hour, and longer than a run's timeout, so that two runs never
// overlap.
const OverlapExpiry = 55 * time.Minute

// Params are a Pruner's dependencies.
type Params struct {
	// DB holds every table pruned.
	DB *store.DB
	// Admin is the queue's storage in DB; nil means dbdriver.NewAdmin(DB.DB).
	Admin driver.Admin
	// Retention says how long each kind of record is kept.
	Retention config.Retention
	// TokenTTL is the API token lifetime (AUTH_TOKEN_TTL). When set, the
	// tokens issued before tokens had an expiry are pruned once that
	// lifetime and the expired-token retention have passed since their
	// creation, as if they had expired then.
	TokenTTL time.Duration
	// Budget bounds one run (DefaultBudget when zero).
	Budget time.Duration
	// Logger receives what was pruned (info) and what failed (warn).
	Logger *slog.Logger
	// OnTable, when set, is given each table's result as soon as that
	// table is done, so that a run in the foreground can be followed.
	OnTable func(Result)
}

// Pruner prunes every table once per PruneOnce.
type Pruner struct {
	db       *store.DB
	queue    *queue.Pruner
	r        config.Retention
	tokenTTL time.Duration
	budget   time.Duration
	log      *slog.Logger
	onTable  func(Result)
}

// New returns a Pruner.
func New(p Params) (*Pruner, error) {
	if p.DB == nil {
		return nil, errors.New("retention: no database")
	}
	adm := p.Admin
	if adm == nil {
		adm = dbdriver.NewAdmin(p.DB.DB)
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	budget := p.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	r := p.Retention
	processes := r.QueueProcesses
	if processes == 0 {
		processes = -1 // the queue's Pruner keeps them when negative
	}
	qp := queue.NewPruner(adm, queue.RetentionConfig{
		FailedJobs: r.FailedJobs, Batches: r.Batches, CompletedJobs: r.CompletedJobs,
		Metrics: r.JobMetrics, RateLimits: r.RateLimits, Processes: processes, ChunkSize: r.ChunkSize,
	}, nil)
	return &Pruner{db: p.DB, queue: qp, r: r, tokenTTL: p.TokenTTL, budget: budget, log: log, onTable: p.OnTable}, nil
}

// Register adds the worker of PruneOldRecords to ws and returns the Pruner
// behind it.
func Register(ws *queue.Workers, p Params) (*Pruner, error) {
	pr, err := New(p)
	if err != nil {
		return nil, err
	}
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[PruneOldRecords]) error {
		_, err := pr.PruneOnce(ctx)
		return err
	}))
	return pr, nil
}

// Result is what the prune of one table did.
type Result struct {
	Table string `json:"table"`
	// Rows deleted, also when the prune failed or stopped part-way: the
	// chunks deleted before stay deleted.
	Rows   int64         `json:"rows"`
	Took   time.Duration `json:"-"`
	TookMS float64       `json:"took_ms"`
	// Err is the failure, if any; Stopped tells that the run's budget
	// ended this table's prune.
	Err     error  `json:"-"`
	Error   string `json:"error,omitempty"`
	Stopped bool   `json:"stopped,omitempty"`
}

// Report is what one run did.
type Report struct {
	Results []Result      `json:"tables"`
	Rows    int64         `json:"rows"`
	Took    time.Duration `json:"-"`
	TookMS  float64       `json:"took_ms"`
	// Stopped tells that the budget ran out before every table was done;
	// the next run carries on.
	Stopped bool `json:"stopped,omitempty"`
}

// PruneOnce prunes every table whose retention is set, one after the
// other, and logs what each did. A table that fails does not stop the
// others; the error returned joins every table's failure, so that a job
// whose prunes keep failing shows among the failed jobs. The cutoffs are
// taken from the database clock, as every server agrees on it.
func (p *Pruner) PruneOnce(ctx context.Context) (*Report, error) {
	start := time.Now()
	now, err := p.db.Now(ctx)
	if err != nil {
		return &Report{}, fmt.Errorf("retention: %w", err)
	}
	run, cancel := context.WithTimeout(ctx, p.budget)
	defer cancel()
	rep := &Report{}
	var errs []error
	record := func(r Result) {
		// A prune cut short by the budget, not by the caller, has only
		// stopped: what it deleted is committed, the rest waits.
		if r.Err != nil && run.Err() != nil && ctx.Err() == nil {
			r.Err, r.Stopped, rep.Stopped = nil, true, true
		}
		r.TookMS = float64(r.Took.Microseconds()) / 1000
		if r.Err != nil {
			r.Error = r.Err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", r.Table, r.Err))
			p.log.Warn("retention: prune failed", "table", r.Table, "rows", r.Rows, "error", r.Err)
		} else if r.Rows > 0 || r.Stopped {
			p.log.Info("retention: pruned", "table", r.Table, "rows", r.Rows, "took_ms", r.TookMS, "stopped", r.Stopped)
		}
		rep.Results = append(rep.Results, r)
		rep.Rows += r.Rows
		if p.onTable != nil {
			p.onTable(r)
		}
	}

	for _, t := range p.appTables() {
		if run.Err() != nil {
			rep.Stopped = rep.Stopped || ctx.Err() == nil
			break
		}
		t0 := time.Now()
		n, err := t.prune(run, store.PruneParams{Before: now.Add(-t.keep), ChunkSize: p.r.ChunkSize})
		record(Result{Table: t.name, Rows: n, Err: err, Took: time.Since(t0)})
	}
	p.queue.PruneEach(run, func(r queue.PruneResult) {
		record(Result{Table: r.Table, Rows: int64(r.Rows), Err: r.Err, Took: r.Took})
	})
	if run.Err() != nil && ctx.Err() == nil {
		rep.Stopped = true
	}
	rep.Took = time.Since(start)
	rep.TookMS = float64(rep.Took.Microseconds()) / 1000
	p.log.Info("retention: prune done", "rows", rep.Rows, "took_ms", rep.TookMS, "stopped", rep.Stopped, "failed", len(errs))
	if rep.Stopped {
		p.log.Info("retention: the run's time budget ran out; the next run carries on", "budget", p.budget.String())
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("retention: %w", err)
	}
	if ctx.Err() != nil {
		return rep, fmt.Errorf("retention: %w", ctx.Err())
	}
	return rep, nil
}

// appTable is the prune of one of the application's tables.
type appTable struct {
	name  string
	keep  time.Duration
	prune func(ctx context.Context, p store.PruneParams) (int64, error)
}

// appTables lists the application's prunes whose retention is set, small
// and critical tables first, so that a run stopped by its budget has done
// those.
func (p *Pruner) appTables() []appTable {
	rejected := rejectedOutcomes()
	all := []appTable{
		{"idempotency_keys", p.r.IdempotencyKeys, p.db.IdempotencyKeyPrune},
		{"personal_access_tokens", p.r.ExpiredTokens, p.db.TokenPruneExpired},
		{"personal_access_tokens (no expiry)", p.legacyTokenKeep(), p.db.TokenPruneUnexpiring},
		{"ops_notifications", p.r.OpsNotifications, p.db.OpsNotificationPrune},
		{"schedule_runs", p.r.ScheduleRuns, p.db.ScheduleRunPrune},
		{"payment_notifications (rejected)", p.r.RejectedPaymentNotifications,
			func(ctx context.Context, pp store.PruneParams) (int64, error) {
				return p.db.PaymentNotificationPruneRejected(ctx, rejected, pp)
			}},
		{"payment_notifications (accepted)", p.r.PaymentNotifications,
			func(ctx context.Context, pp store.PruneParams) (int64, error) {
				return p.db.PaymentNotificationPruneAccepted(ctx, rejected, pp)
			}},
		{"sent_emails", p.r.SentEmails, p.db.SentEmailPrune},
	}
	out := all[:0]
	for _, t := range all {
		if t.keep > 0 {
			out = append(out, t)
		}
	}
	return out
}

// legacyTokenKeep is how long a token without an expiry is kept after its
// creation: the token lifetime, then the expired-token retention; 0 (not
// pruned) when either is unset.
func (p *Pruner) legacyTokenKeep() time.Duration {
	if p.tokenTTL <= 0 || p.r.ExpiredTokens <= 0 {
		return 0
	}
	return p.tokenTTL + p.r.ExpiredTokens
}

func rejectedOutcomes() []string {
	var out []string
	for _, o := range payment.RejectedOutcomes() {
		out = append(out, string(o))
	}
	return out
}
