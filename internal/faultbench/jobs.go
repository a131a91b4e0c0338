package faultbench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
)

// LedgerTable is the side-effect ledger the FaultLedger job writes to. The
// bench creates it in its own database; it is not part of the schema.
const LedgerTable = "fault_ledger"

// LedgerArgs is the bench's workload job: it records its start in the
// ledger, works MS milliseconds (or until its context ends) and records
// that it ran. A job whose ledger holds two "done" rows ran twice, whatever
// the queue's own bookkeeping says.
type LedgerArgs struct {
	MS int `json:"ms"`
}

// Kind returns "FaultLedger".
func (LedgerArgs) Kind() string { return "FaultLedger" }

// HoldArgs is the bench's pool blocker: it takes up to Conns connections of
// its process's database pool (every one there is, when the pool is
// smaller) and keeps them MS milliseconds, so that the process's own queue
// and ledger writes wait for a connection.
type HoldArgs struct {
	Conns int `json:"conns"`
	MS    int `json:"ms"`
}

// Kind returns "FaultHold".
func (HoldArgs) Kind() string { return "FaultHold" }

// The ledger's phases.
const (
	phaseStart = "s"
	phaseDone  = "d"
)

// AddWorkers adds the FaultLedger and FaultHold workers, writing to db, to
// ws. Both kinds exist only for `tripin bench faults`; a FaultLedger job on
// a database without the ledger table fails at once, for good.
func AddWorkers(ws *queue.Workers, db *store.DB) {
	pid := os.Getpid()
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[LedgerArgs]) error {
		if err := ledgerWrite(ctx, db, job.UUID, pid, job.Attempts, phaseStart); err != nil {
			return err
		}
		t := time.NewTimer(time.Duration(max(job.Args.MS, 0)) * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("FaultLedger: %w", ctx.Err())
		case <-t.C:
		}
		// A job whose lease was lost has its context cancelled by the
		// heartbeat: a job that checks it before its side effect does not
		// repeat the side effect of the worker that took it over.
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("FaultLedger: %w", err)
		}
		err := ledgerWrite(ctx, db, job.UUID, pid, job.Attempts, phaseDone)
		if err != nil && ledgerHas(ctx, db, job.UUID, pid, job.Attempts) {
			// The write committed but its answer was lost (a killed
			// connection): the side effect is done, as an idempotent job
			// would find. Only the queue may make it run twice.
			return nil
		}
		return err
	}))
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[HoldArgs]) error {
		var held []*sql.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for range max(job.Args.Conns, 1) {
			cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			c, err := db.Conn(cctx)
			cancel()
			if err != nil {
				break // the pool is exhausted
			}
			held = append(held, c)
		}
		t := time.NewTimer(time.Duration(max(job.Args.MS, 0)) * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return nil
	}))
}

func ledgerWrite(ctx context.Context, db *store.DB, key string, pid, attempt int, phase string) error {
	_, err := db.ExecContext(ctx, db.Rebind("INSERT INTO "+LedgerTable+" (job_key, pid, attempt, phase, at_ms) VALUES (?, ?, ?, ?, ?)"),
		key, pid, attempt, phase, time.Now().UnixMilli())
	if err != nil && isMissingTable(err) {
		return queue.Permanent(fmt.Errorf("FaultLedger: no %s table: the job runs only under `tripin bench faults`: %w", LedgerTable, err))
	}
	if err != nil {
		return fmt.Errorf("FaultLedger: write the ledger: %w", err)
	}
	return nil
}

// ledgerHas reports whether the done row of this run is in the ledger,
// asking up to three times.
func ledgerHas(ctx context.Context, db *store.DB, key string, pid, attempt int) bool {
	for range 3 {
		var n int
		err := db.QueryRowContext(ctx, db.Rebind("SELECT COUNT(*) FROM "+LedgerTable+" WHERE job_key = ? AND pid = ? AND attempt = ? AND phase = ?"),
			key, pid, attempt, phaseDone).Scan(&n)
		if err == nil {
			return n > 0
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

// isMissingTable reports whether err says a table does not exist.
func isMissingTable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "no such table") || strings.Contains(s, "doesn't exist") || strings.Contains(s, "does not exist")
}
