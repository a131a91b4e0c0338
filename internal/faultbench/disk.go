package faultbench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// fullDiskSize is the tmpfs the full-disk row puts the SQLite database on.
const fullDiskSize = 24 << 20

// MountTmpfs mounts a tmpfs of size bytes on dir (which it creates) and
// returns a function that unmounts it. It fails where mounting is not
// allowed (not root, or a container without CAP_SYS_ADMIN).
func MountTmpfs(dir string, size int64) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mount -t tmpfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return func() { _ = exec.Command("umount", "-l", dir).Run() }, nil
}

// fillDisk writes path until the disk it is on is full.
func fillDisk(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return n, nil
			}
			return n, err
		}
	}
}

// runFullDisk runs `tripin serve` on a SQLite database on a small tmpfs,
// books, fills the disk and books on: a booking must be refused with 503
// "database disk is full", nothing may be half-written (bookings, seats
// and invoice jobs agree), and bookings must succeed again once the space
// is freed.
func runFullDisk(ctx context.Context, o *Options, dir string) Result {
	res := Result{RecoveryMs: -1, Disk: fmt.Sprintf("SQLite db+wal+shm on a %d MiB tmpfs", fullDiskSize>>20), Twice: -1,
		Recovery: "space freed → the first booking created"}
	mnt := filepath.Join(dir, "disk")
	umount, err := MountTmpfs(mnt, fullDiskSize)
	if err != nil {
		res.Status, res.Note = "skipped", err.Error()
		return res
	}
	defer umount()
	in, err := newInstance(ctx, o, "sqlite", "", "", mnt, "")
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	defer in.close()
	in.logDir = dir
	a, err := in.startApp(ctx, 30, filepath.Join(dir, "serve.log"))
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	defer a.stop()
	disk := startDiskSampler(ctx, in.disk)
	defer disk.stop()
	created := 0
	for range 20 {
		if st, raw, err := a.book(ctx); err != nil || st != http.StatusCreated {
			res.Status, res.Note = "error", fmt.Sprintf("booking before the disk filled: %d %v %s", st, err, raw)
			return res
		}
		created++
	}
	filler := filepath.Join(mnt, "filler")
	if _, err := fillDisk(filler); err != nil {
		res.Status, res.Note = "error", "fill the disk: "+err.Error()
		return res
	}
	// The WAL may still have room in pages it had already written: book
	// until the database itself refuses.
	var refusals []string
	for i := 0; i < 5000 && len(refusals) < 5; i++ {
		st, raw, err := a.book(ctx)
		switch {
		case err != nil:
			refusals = append(refusals, err.Error())
		case st == http.StatusCreated:
			created++
		default:
			refusals = append(refusals, fmt.Sprintf("%d %s", st, raw))
		}
	}
	res.Refused = len(refusals)
	var notes []string
	if len(refusals) == 0 {
		res.Status, res.Note = "error", "the disk filled, yet 5,000 bookings were created"
		return res
	}
	res.RefusedAnswer = refusals[0]
	clear503 := strings.HasPrefix(refusals[0], "503 ") && strings.Contains(refusals[0], "database disk is full")
	if !clear503 {
		notes = append(notes, "a refusal was not 503 \"database disk is full\": "+refusals[0])
	}
	n, missing, err := in.consistency(ctx, a.tour)
	if err != nil {
		notes = append(notes, "while full: "+err.Error())
		res.Lost++
	}
	if n != created {
		notes = append(notes, fmt.Sprintf("while full: %d bookings stored, %d answered 201", n, created))
		res.Lost += abs(n - created)
	}
	if missing > 0 {
		notes = append(notes, fmt.Sprintf("while full: %d bookings without their invoice job", missing))
		res.Lost += missing
	}
	freed := time.Now()
	if err := os.Remove(filler); err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	err = waitUntil(ctx, time.Minute, "a booking once space was freed", func() (bool, error) {
		st, _, err := a.book(ctx)
		if err == nil && st == http.StatusCreated {
			created++
			return true, nil
		}
		return false, err
	})
	if err == nil {
		res.RecoveryMs = time.Since(freed).Milliseconds()
		res.Recovered = true
		for range 20 {
			if st, raw, err := a.book(ctx); err != nil || st != http.StatusCreated {
				res.Recovered = false
				notes = append(notes, fmt.Sprintf("a booking after recovery: %d %v %s", st, err, raw))
				break
			}
			created++
		}
	} else {
		notes = append(notes, err.Error())
	}
	// Let the embedded worker send the invoices, then count.
	_ = in.waitInvoices(ctx, a.tour)
	n, missing, err = in.consistency(ctx, a.tour)
	if err != nil {
		notes = append(notes, "after: "+err.Error())
	}
	if n != created {
		notes = append(notes, fmt.Sprintf("after: %d bookings stored, %d answered 201", n, created))
	}
	if missing > 0 {
		notes = append(notes, fmt.Sprintf("after: %d bookings without their invoice", missing))
		res.InvoicesMissing = missing
		res.Lost += missing
	}
	if err := in.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM failed_jobs").Scan(&res.Failed); err != nil {
		notes = append(notes, err.Error())
	}
	res.Jobs, res.Bookings = created, created
	res.DiskHighBytes = disk.stop()
	if len(notes) == 0 {
		notes = append(notes, "bookings refused with 503 while full; bookings, seats and invoice jobs consistent while full and after; invoices sent after")
	}
	res.Note = strings.Join(notes, "; ")
	res.Status = "ok"
	return res
}

// waitInvoices waits up to a minute for the invoice of every booking of
// tour in the database to be sent, or for a job to have failed for each
// one still unsent. It counts the stored bookings rather than the 201
// answers: a request cut off at the end of a load run can still have
// booked.
func (in *instance) waitInvoices(ctx context.Context, tour int64) error {
	return waitUntil(ctx, time.Minute, "the invoices to be sent", func() (bool, error) {
		var bookings, sent, failed int
		err := in.db.QueryRowContext(ctx, in.db.Rebind("SELECT COUNT(*) FROM bookings WHERE tour_id = ?"), tour).Scan(&bookings)
		if err == nil {
			err = in.db.QueryRowContext(ctx, in.db.Rebind(
				"SELECT COUNT(*) FROM sent_emails WHERE kind = 'invoice' AND booking_id IN (SELECT id FROM bookings WHERE tour_id = ?)"), tour).Scan(&sent)
		}
		if err == nil {
			err = in.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM failed_jobs").Scan(&failed)
		}
		return sent+failed >= bookings, err
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// runSustained runs `tripin serve` (its embedded worker on) and one more
// `queue work` process while 8 clients book and FaultLedger jobs are
// pushed every half second, for a fixed time; then it lets the queue
// drain and counts.
func runSustained(ctx context.Context, in *instance) Result {
	sz := in.o.sizes()
	dir := in.logDir
	res := Result{RecoveryMs: -1, Recovery: "no fault to recover from", Disk: in.diskWhat}
	const lease = 30
	a, err := in.startApp(ctx, lease, filepath.Join(dir, "serve.log"))
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	defer a.stop()
	w, err := in.startWorker("w1", lease, "--concurrency", itoa(sz.concurrency), "--sleep", "1")
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	defer w.kill()
	disk := startDiskSampler(ctx, in.disk)
	defer disk.stop()

	loadCtx, cancel := context.WithTimeout(ctx, sz.sustainedFor)
	defer cancel()
	pushed := make(chan int)
	go func() {
		n := 0
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for loadCtx.Err() == nil {
			if _, err := in.command(ctx, "queue", "push", "FaultLedger", "--args", fmt.Sprintf(`{"ms":%d}`, sz.ms),
				"--tries", itoa(sz.tries), "--count", "20"); err == nil {
				n += 20
			}
			select {
			case <-loadCtx.Done():
			case <-t.C:
			}
		}
		pushed <- n
	}()
	l := a.load(loadCtx, 8)
	n := <-pushed
	res.Jobs, res.Bookings, res.Refused, res.RefusedAnswer = n, l.created, l.refused+l.errors, l.first
	err = waitUntil(ctx, 3*time.Minute, "the jobs to drain", func() (bool, error) {
		var done, failed int
		err := in.db.QueryRowContext(ctx, in.db.Rebind("SELECT COUNT(DISTINCT job_key) FROM "+LedgerTable+" WHERE phase = ?"), phaseDone).Scan(&done)
		if err == nil {
			err = in.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM failed_jobs").Scan(&failed)
		}
		return done+failed >= n, err
	})
	var notes []string
	if err != nil {
		notes = append(notes, err.Error())
	}
	ledger, err := in.ledger(ctx)
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	failed, err := in.failedKeys(ctx)
	if err != nil {
		res.Status, res.Note = "error", err.Error()
		return res
	}
	res.Lost, res.Twice, res.Failed = tally(ledger, failed, n, 0)
	res.TwiceUnexplained = res.Twice
	if err := in.waitInvoices(ctx, a.tour); err != nil {
		notes = append(notes, err.Error())
	}
	if stored, missing, err := in.consistency(ctx, a.tour); err != nil {
		notes = append(notes, err.Error())
	} else {
		if stored != l.created {
			// A request cut off as the run ends can book without its 201
			// reaching the client; the invoice check covers every stored one.
			notes = append(notes, fmt.Sprintf("%d bookings stored for %d answered 201", stored, l.created))
		}
		if missing > 0 {
			res.InvoicesMissing = missing
			notes = append(notes, fmt.Sprintf("%d bookings without their invoice job", missing))
		}
	}
	res.Recovered = res.Lost == 0
	res.DiskHighBytes = disk.stop()
	notes = append([]string{fmt.Sprintf("%s of 8 clients booking (%.0f bookings/s) and %d FaultLedger jobs pushed 20 every 0.5 s, serve's embedded worker plus one `queue work`",
		sz.sustainedFor, float64(l.created)/sz.sustainedFor.Seconds(), n)}, notes...)
	res.Note = strings.Join(notes, "; ")
	res.Status = "ok"
	return res
}
