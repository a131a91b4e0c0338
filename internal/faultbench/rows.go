package faultbench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// runProcRow runs a row whose workload is FaultLedger jobs drained by
// `tripin queue work` processes: a worker killed or stopped, connections
// killed, a pool exhausted, an idle-in-transaction blocker.
func runProcRow(ctx context.Context, in *instance, row string) Result {
	sz := in.o.sizes()
	res := Result{Jobs: sz.jobs, Disk: in.diskWhat, RecoveryMs: -1}
	fail := func(err error) Result {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	hold := time.Duration(sz.lease)*2*time.Second + time.Second
	if row == RowPool {
		// The blocker goes first, so that the first worker to claim takes
		// it with its first ledger jobs, and runs beside them.
		args := fmt.Sprintf(`{"conns":64,"ms":%d}`, hold.Milliseconds())
		if out, err := in.command(ctx, "queue", "push", "FaultHold", "--args", args, "--tries", "1"); err != nil {
			return fail(fmt.Errorf("push FaultHold: %v: %s", err, out))
		}
	}
	if out, err := in.command(ctx, "queue", "push", "FaultLedger", "--args", fmt.Sprintf(`{"ms":%d}`, sz.ms),
		"--tries", itoa(sz.tries), "--count", itoa(sz.jobs)); err != nil {
		return fail(fmt.Errorf("push FaultLedger: %v: %s", err, out))
	}
	disk := startDiskSampler(ctx, in.disk)
	defer disk.stop()
	var workers []*worker
	defer func() {
		for _, w := range workers {
			w.kill()
		}
	}()
	wargs := []string{"--concurrency", itoa(sz.concurrency), "--sleep", "1"}
	for i := range sz.workers {
		w, err := in.startWorker(fmt.Sprintf("w%d", i+1), sz.lease, wargs...)
		if err != nil {
			return fail(err)
		}
		workers = append(workers, w)
	}
	started := time.Now()
	alive := func() error {
		for _, w := range workers {
			if !w.exited() {
				return nil
			}
		}
		return fatal{fmt.Errorf("every worker exited; the last said: %s", workers[len(workers)-1].output())}
	}
	doneCount := func() (int, error) {
		var n int
		err := in.db.Read.QueryRowContext(ctx, in.db.Rebind("SELECT COUNT(DISTINCT job_key) FROM "+LedgerTable+" WHERE phase = ?"), phaseDone).Scan(&n)
		return n, err
	}
	progress := func(n int) error {
		return waitUntil(ctx, 3*time.Minute, fmt.Sprintf("%d jobs done", n), func() (bool, error) {
			if err := alive(); err != nil {
				return false, err
			}
			d, err := doneCount()
			if err != nil || d >= n {
				return err == nil, err
			}
			if dp, err := in.depth(ctx); err == nil && dp == 0 {
				return false, fatal{errors.New("the queue drained before the fault")}
			}
			return false, nil
		})
	}

	var faultStart, faultEnd time.Time
	var victim *worker // the worker rows' faulted worker
	switch row {
	case RowSIGKILL, RowSIGSTOP:
		// The victim is the worker running the most jobs at the moment.
		// Freeze the victim first and look at what it holds: a victim
		// caught between jobs is let go and caught again later. SIGKILL
		// then hits the frozen process, as if it had come at the freeze.
		var held map[string]bool
		for attempt := 0; ; attempt++ {
			err := waitUntil(ctx, 3*time.Minute, "a fifth of the jobs done, the victim mid-job", func() (bool, error) {
				if err := alive(); err != nil {
					return false, err
				}
				d, err := doneCount()
				if err != nil || d < sz.jobs/5 {
					return false, err
				}
				if d == sz.jobs {
					return false, fatal{errors.New("every job was done before the fault")}
				}
				best := 0
				for _, w := range workers {
					open, err := in.openStarts(ctx, w.pid())
					if err != nil {
						return false, err
					}
					if len(open) > best {
						victim, best = w, len(open)
					}
				}
				return best >= min(3, sz.concurrency), nil
			})
			if err != nil {
				return fail(err)
			}
			if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				return fail(err)
			}
			faultStart = time.Now()
			// Let the statements it had sent land.
			time.Sleep(300 * time.Millisecond)
			if held, err = in.openStarts(ctx, victim.pid()); err != nil {
				return fail(err)
			}
			if len(held) > 0 || attempt == 9 {
				break
			}
			_ = victim.cmd.Process.Signal(syscall.SIGCONT)
		}
		if row == RowSIGKILL {
			if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				return fail(err)
			}
		}
		res.Held = len(held)
		if row == RowSIGKILL {
			<-victim.done
			w, err := in.startWorker("w1-restarted", sz.lease, wargs...)
			if err != nil {
				return fail(err)
			}
			workers = append(workers, w)
			faultEnd = faultStart
		} else {
			// Keep it stopped until the others have run what it held,
			// then let it go: its late outcomes must change nothing.
			err := waitUntil(ctx, time.Duration(sz.lease)*3*time.Second+10*time.Second, "the stopped worker's jobs done by another", func() (bool, error) {
				l, err := in.ledger(ctx)
				if err != nil {
					return false, err
				}
				return len(doneElsewhere(l, held, victim.pid())) == len(held), nil
			})
			_ = victim.cmd.Process.Signal(syscall.SIGCONT)
			if err != nil {
				if ctx.Err() != nil {
					return fail(err)
				}
				// A process stopped inside a write transaction holds
				// SQLite's write lock: every other writer waits for it.
				res.Note = "the others could not finish its jobs while it was stopped (" + err.Error() +
					"): it was let go anyway; on SQLite a process stopped inside a write transaction holds the write lock"
			}
			faultEnd = time.Now()
		}
		res.Recovery = "signal → the last job the worker held done by another worker"
	case RowConnKill:
		if err := progress(sz.jobs / 5); err != nil {
			return fail(err)
		}
		faultStart = time.Now()
		kills, err := in.killConnsLoop(ctx, sz.faultFor)
		faultEnd = time.Now()
		if err != nil {
			return fail(err)
		}
		res.Note = fmt.Sprintf("%d connections killed over %s", kills, sz.faultFor)
		res.Recovery = "longest time without a completed job, from the first kill to the end"
	case RowPool:
		faultStart, faultEnd = started, started.Add(hold)
		res.Note = fmt.Sprintf("one worker's database pool held for %s by a FaultHold job", hold)
		res.Recovery = "longest time without a completed job, from the blocker's start to the end"
	case RowRestart:
		if err := progress(sz.jobs / 5); err != nil {
			return fail(err)
		}
		faultStart = time.Now()
		err := in.restart(ctx)
		faultEnd = time.Now()
		if err != nil {
			return fail(err)
		}
		res.Note = fmt.Sprintf("the server was down (stop, then start) for %s", faultEnd.Sub(faultStart).Round(10*time.Millisecond))
		res.Recovery = "longest time without a completed job, from the stop to the end (the downtime included)"
	case RowIdleTx:
		if err := progress(sz.jobs / 5); err != nil {
			return fail(err)
		}
		faultStart = time.Now()
		err := in.idleTxBlocker(ctx, sz.faultFor)
		faultEnd = time.Now()
		if err != nil {
			return fail(err)
		}
		if in.dialect == store.SQLite {
			res.Note = fmt.Sprintf("the write lock (BEGIN IMMEDIATE) held idle for %s", sz.faultFor)
		} else {
			res.Note = fmt.Sprintf("every jobs row locked (SELECT … FOR UPDATE) and held idle for %s", sz.faultFor)
		}
		res.Recovery = "longest time without a completed job, from the blocker's start to the end"
	}

	err := waitUntil(ctx, 5*time.Minute, "the queue to drain", func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		n, err := in.depth(ctx)
		return n == 0, err
	})
	if err != nil {
		res.Note = strings.TrimSpace(res.Note + "; " + err.Error())
	}
	for _, w := range workers {
		if err := w.stop(time.Minute); err != nil && !w.exited() {
			res.Note = strings.TrimSpace(res.Note + "; " + err.Error())
		}
	}
	res.DiskHighBytes = disk.stop()
	victimPID := 0
	if victim != nil {
		victimPID = victim.pid()
	}
	return finish(ctx, in, res, faultStart, faultEnd, row, victimPID)
}

// finish reads the ledger, failed_jobs and the queue's depth and fills in
// the counts and the recovery.
func finish(ctx context.Context, in *instance, res Result, faultStart, faultEnd time.Time, row string, victim int) Result {
	// The bench's own pooled connections may have been killed with the
	// rest: a read is tried again on a fresh one.
	var (
		l       []ledgerRow
		failed  map[string]bool
		pending int
	)
	err := retry(ctx, func() (err error) {
		if l, err = in.ledger(ctx); err != nil {
			return err
		}
		if failed, err = in.failedKeys(ctx); err != nil {
			return err
		}
		pending, err = in.depth(ctx)
		return err
	})
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	res.Lost, res.Twice, res.Failed = tally(l, failed, res.Jobs, pending)
	if pending > 0 {
		res.Note = strings.TrimSpace(fmt.Sprintf("%s; %d jobs still queued at the end", res.Note, pending))
	}
	switch row {
	case RowSIGKILL, RowSIGSTOP:
		// held: the jobs the worker was running at the fault; started:
		// every job it had begun, including those it had finished but
		// whose completion it had not yet written (the engine batches
		// them), which the fault may also make run again.
		// A stopped worker let go also starts, at once, the jobs it had
		// claimed but not begun when it froze: they count as begun by it
		// too (within two seconds of SIGCONT).
		held, started := map[string]bool{}, map[string]bool{}
		for _, r := range l {
			if r.pid == victim && r.phase == phaseStart && r.at < faultStart.UnixMilli() {
				held[r.key] = true
			}
			if r.pid == victim && r.phase == phaseStart && r.at < faultEnd.Add(2*time.Second).UnixMilli() {
				started[r.key] = true
			}
		}
		for _, r := range l {
			if r.pid == victim && r.phase == phaseDone && r.at < faultStart.UnixMilli() {
				delete(held, r.key)
			}
		}
		var last int64
		for _, at := range doneElsewhere(l, held, victim) {
			last = max(last, at)
		}
		if last > 0 {
			res.RecoveryMs = last - faultStart.UnixMilli()
		}
		doneAll := true
		for k := range held {
			doneAll = doneAll && doneByAnyone(l, k)
		}
		res.Recovered = pending == 0 && doneAll
		res.TwiceUnexplained = twiceUnexplained(l, faultEnd, started)
	default:
		if st := longestStall(l, faultStart); st >= 0 {
			res.RecoveryMs = st.Milliseconds()
		}
		res.Recovered = pending == 0 && (!lastDone(l).Before(faultEnd) || doneKeys(l) == res.Jobs)
		res.TwiceUnexplained = twiceUnexplained(l, faultEnd, nil)
	}
	if res.Status == "" {
		res.Status = "ok"
	}
	return res
}

// retry runs fn up to five times, 200ms apart, until it succeeds.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for range 5 {
		if err = fn(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

func doneByAnyone(l []ledgerRow, key string) bool {
	for _, r := range l {
		if r.key == key && r.phase == phaseDone {
			return true
		}
	}
	return false
}

func doneKeys(l []ledgerRow) int {
	seen := map[string]bool{}
	for _, r := range l {
		if r.phase == phaseDone {
			seen[r.key] = true
		}
	}
	return len(seen)
}

// openStarts returns the jobs pid has started and not done.
func (in *instance) openStarts(ctx context.Context, pid int) (map[string]bool, error) {
	rows, err := in.db.Read.QueryContext(ctx, in.db.Rebind("SELECT job_key, phase FROM "+LedgerTable+" WHERE pid = ?"), pid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	open := map[string]bool{}
	done := map[string]bool{}
	for rows.Next() {
		var k, ph string
		if err := rows.Scan(&k, &ph); err != nil {
			return nil, err
		}
		if ph == phaseStart {
			open[k] = true
		} else {
			done[k] = true
		}
	}
	for k := range done {
		delete(open, k)
	}
	return open, rows.Err()
}

// doneElsewhere returns, for each of held done by a process other than
// victim, when it was first done.
func doneElsewhere(l []ledgerRow, held map[string]bool, victim int) map[string]int64 {
	out := map[string]int64{}
	for _, r := range l {
		if held[r.key] && r.pid != victim && r.phase == phaseDone {
			if at, ok := out[r.key]; !ok || r.at < at {
				out[r.key] = r.at
			}
		}
	}
	return out
}

// killConnsLoop kills the bench's own server connections every 300ms for
// d and returns how many it killed.
func (in *instance) killConnsLoop(ctx context.Context, d time.Duration) (int, error) {
	end := time.Now().Add(d)
	kills := 0
	for time.Now().Before(end) {
		n, err := in.killConns(ctx)
		if err != nil {
			return kills, err
		}
		kills += n
		select {
		case <-ctx.Done():
			return kills, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return kills, nil
}

func (in *instance) killConns(ctx context.Context) (int, error) {
	if in.rdb != nil {
		list, err := in.rdb.ClientList(ctx).Result()
		if err != nil {
			return 0, err
		}
		n := 0
		for _, line := range strings.Split(list, "\n") {
			var id, name string
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "id="); ok {
					id = v
				}
				if v, ok := strings.CutPrefix(f, "name="); ok {
					name = v
				}
			}
			if id != "" && name == in.redisName {
				if in.rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
					n++
				}
			}
		}
		return n, nil
	}
	// A pool of its own with one connection, which the statements below
	// leave out, so that the killer is never killed.
	if in.killer == nil {
		driverName := "pgx"
		if in.dialect == store.MySQL {
			driverName = "mysql"
		}
		k, err := sql.Open(driverName, in.dsn)
		if err != nil {
			return 0, err
		}
		k.SetMaxOpenConns(1)
		in.killer = k
		in.closers = append(in.closers, func() { k.Close() })
	}
	conn := in.killer
	switch in.dialect {
	case store.PgSQL:
		var n int
		err := conn.QueryRowContext(ctx, "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&n)
		return n, err
	case store.MySQL:
		rows, err := conn.QueryContext(ctx, "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()")
		if err != nil {
			return 0, err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		n := 0
		for _, id := range ids {
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err == nil {
				n++
			}
		}
		return n, nil
	}
	return 0, errors.New("no connections to kill on SQLite")
}

// idleTxBlocker opens a transaction that locks the jobs table and sits
// idle in it for d: on PostgreSQL and MariaDB every jobs row is locked with
// SELECT … FOR UPDATE; on SQLite the transaction takes the write lock.
func (in *instance) idleTxBlocker(ctx context.Context, d time.Duration) error {
	conn, err := in.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := "SELECT id FROM jobs FOR UPDATE"
	if in.dialect == store.SQLite {
		q = "SELECT id FROM jobs" // the writer's BEGIN IMMEDIATE already holds the lock
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
	}
	return tx.Rollback()
}
