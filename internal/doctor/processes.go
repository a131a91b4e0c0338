package doctor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// checkWorkers reports when no worker process has heartbeated within
// StaleAfter: jobs then wait (in the database, or in Redis) with nobody
// to run them. Every worker, whatever the queue connection, keeps its
// row in queue_processes. It is skipped on the sync connection, which
// runs jobs inline.
func checkWorkers(ctx context.Context, p *Params) Result {
	if p.Config != nil && p.Config.QueueConnection == "sync" {
		return skipped("QUEUE_CONNECTION=sync runs jobs inline")
	}
	if p.DB == nil {
		return noDatabase()
	}
	procs, err := processes(ctx, p, driver.ProcessWorker)
	if err != nil {
		return schemaOr(p, problems(err.Error()))
	}
	live, line := liveness(procs, p.StaleAfter, "worker")
	if live == 0 {
		return problems(line + ": no job runs; start 'tripin serve' or 'tripin queue work'")
	}
	return ok("%s", line)
}

// checkScheduler reports when no scheduler is alive: no scheduler process
// (`serve`, `schedule work`) has heartbeated within StaleAfter and no
// scheduled task has run within SchedulerRunWindow (the mark of `schedule
// run` from cron, which keeps no heartbeat).
func checkScheduler(ctx context.Context, p *Params) Result {
	if p.DB == nil {
		return noDatabase()
	}
	procs, err := processes(ctx, p, driver.ProcessScheduler)
	if err != nil {
		return schemaOr(p, problems(err.Error()))
	}
	live, line := liveness(procs, p.StaleAfter, "scheduler")
	if live > 0 {
		return ok("%s", line)
	}
	age, err := sinceLastRun(ctx, p, "")
	switch {
	case err == nil && age <= p.SchedulerRunWindow:
		return ok("a scheduled task ran %s ago (schedule run from cron)", roundAge(age))
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return schemaOr(p, problemf("%s, and the scheduler's run log cannot be read: %s", line, p.scrub(err.Error())))
	case err == nil:
		return problemf("%s, and no scheduled task ran in the last %s (the latest %s ago): bookings do not expire; run 'tripin schedule work', 'tripin serve', or 'tripin schedule run' from cron every minute",
			line, p.SchedulerRunWindow, roundAge(age))
	}
	return problemf("%s, and no scheduled task has ever run: bookings do not expire; run 'tripin schedule work', 'tripin serve', or 'tripin schedule run' from cron every minute", line)
}

// schemaOr returns r, the failure of a query, unless the schema is
// behind, which explains it.
func schemaOr(p *Params, r Result) Result {
	if p.schemaBehind {
		return schemaBehind()
	}
	return r
}

func processes(ctx context.Context, p *Params, kind string) ([]*driver.Process, error) {
	procs, err := dbdriver.NewRegistry(p.DB.DB).ProcessList(ctx, &driver.ProcessListParams{Kind: kind})
	if err != nil {
		return nil, fmt.Errorf("cannot read the process registry (queue_processes): %s", p.scrub(err.Error()))
	}
	return procs, nil
}

// liveness counts the processes whose last heartbeat is within staleAfter
// and describes them in a line.
func liveness(procs []*driver.Process, staleAfter time.Duration, kind string) (int, string) {
	live := 0
	var freshest *driver.Process
	for _, pr := range procs {
		if pr.Age <= staleAfter {
			live++
		}
		if freshest == nil || pr.Age < freshest.Age {
			freshest = pr
		}
	}
	switch {
	case len(procs) == 0:
		return 0, fmt.Sprintf("no %s process has registered a heartbeat", kind)
	case live == 0:
		return 0, fmt.Sprintf("all %d %s process(es) are stale: the latest heartbeat, from %s pid %d, is %s old (more than %s)",
			len(procs), kind, freshest.Host, freshest.PID, roundAge(freshest.Age), staleAfter)
	}
	return live, fmt.Sprintf("%d %s process(es) alive (heartbeat within %s)", live, kind, staleAfter)
}

func roundAge(d time.Duration) time.Duration {
	return max(d.Round(time.Second), 0)
}

// sinceLastRun is how long ago, by the database clock, the scheduled task
// named name (any task when name is empty) last started. It returns
// sql.ErrNoRows when the task never ran.
func sinceLastRun(ctx context.Context, p *Params, name string) (time.Duration, error) {
	q := "SELECT MAX(started_at) FROM schedule_runs"
	var args []any
	if name != "" {
		q += " WHERE name = ?"
		args = append(args, name)
	}
	var started sql.NullInt64
	if err := p.DB.Read.QueryRowContext(ctx, p.DB.Rebind(q), args...).Scan(&started); err != nil {
		return 0, err
	}
	if !started.Valid {
		return 0, sql.ErrNoRows
	}
	now, err := p.DB.Now(ctx)
	if err != nil {
		return 0, err
	}
	return now.Sub(time.Unix(started.Int64, 0)), nil
}

// checkRetention reports a retention prune that has not run within
// RetentionMaxAge: the tables it prunes (failed jobs, metrics, tokens, …)
// then grow without bound.
func checkRetention(ctx context.Context, p *Params) Result {
	if p.DB == nil {
		return noDatabase()
	}
	age, err := sinceLastRun(ctx, p, p.RetentionTask)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return problemf("the %s task has never run: old records are not deleted; a running scheduler runs it every hour, 'tripin db prune' runs it now", p.RetentionTask)
	case err != nil:
		return schemaOr(p, problemf("cannot read the scheduler's run log (schedule_runs): %s", p.scrub(err.Error())))
	case age > p.RetentionMaxAge:
		return problemf("the %s task last ran %s ago (more than %s): old records are not deleted; check the scheduler, or run 'tripin db prune'",
			p.RetentionTask, roundAge(age), p.RetentionMaxAge)
	}
	var outcome string
	var runErr sql.NullString
	err = p.DB.Read.QueryRowContext(ctx, p.DB.Rebind("SELECT outcome, error FROM schedule_runs WHERE name = ? ORDER BY id DESC LIMIT 1"),
		p.RetentionTask).Scan(&outcome, &runErr)
	switch {
	case err != nil:
		return problemf("cannot read the scheduler's run log (schedule_runs): %s", p.scrub(err.Error()))
	case outcome == "failed":
		return problemf("the last %s run, %s ago, failed: %s", p.RetentionTask, roundAge(age), p.scrub(runErr.String))
	}
	return ok("the %s task ran %s ago (%s)", p.RetentionTask, roundAge(age), outcome)
}
