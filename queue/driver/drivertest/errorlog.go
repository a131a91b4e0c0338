package drivertest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// testErrorLog follows a job's error log through its life: a retry
// writes it, a claim returns it, a snooze leaves it, and it goes with the
// job to failed_jobs or completed_jobs, where JobFind reads it back.
func testErrorLog(t *testing.T, h *harness) {
	adm := h.admin(t)
	b := h.browser(t)
	at := time.Now().Unix()
	first := driver.AppendErrorLog(nil, driver.AttemptError{Attempt: 1, At: at, Error: "smtp: 421 try later"})
	second := driver.AppendErrorLog(first, driver.AttemptError{Attempt: 2, At: at + 5, Error: "smtp: 550 mailbox full\ncaused by: …"})
	attempts := func(e []driver.AttemptError) []int {
		var out []int
		for _, a := range e {
			out = append(out, a.Attempt)
		}
		return out
	}

	failing, done := tagged("errlog", "Flaky"), tagged("errlog-ok", "Flaky")
	failing.MaxAttempts, done.MaxAttempts = 3, 3
	h.insert(t, failing, done)
	for _, q := range []string{"errlog", "errlog-ok"} {
		j := h.claim(t, driver.JobClaimParams{Queues: []string{q}, Max: 1})[0]
		if len(j.ErrorLog) != 0 {
			t.Fatalf("a new job's error log = %s, want none", j.ErrorLog)
		}
		rp := retryOf(j)
		rp.Error, rp.ErrorLog = "smtp: 421 try later", first
		if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{rp}); err != nil || len(stale) > 0 {
			t.Fatalf("retry: stale %v, %v", stale, err)
		}
		j = h.claim(t, driver.JobClaimParams{Queues: []string{q}, Max: 1})[0]
		if got := attempts(driver.ParseErrorLog(j.ErrorLog)); !slices.Equal(got, []int{1}) {
			t.Fatalf("claim after a retry: error log attempts %v (%s), want [1]", got, j.ErrorLog)
		}
		// A snooze gives the attempt back and leaves the log alone.
		sp := retryOf(j)
		sp.Snooze, sp.Error = true, "released: worker stopping"
		if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{sp}); err != nil || len(stale) > 0 {
			t.Fatalf("snooze: stale %v, %v", stale, err)
		}
		j = h.claim(t, driver.JobClaimParams{Queues: []string{q}, Max: 1})[0]
		if got := attempts(driver.ParseErrorLog(j.ErrorLog)); !slices.Equal(got, []int{1}) {
			t.Fatalf("claim after a snooze: error log attempts %v, want [1] kept", got)
		}
		if q == "errlog" {
			fp := failOf(j, "smtp: 550 mailbox full")
			fp.ErrorLog = second
			if stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{fp}); err != nil || len(stale) > 0 {
				t.Fatalf("fail: stale %v, %v", stale, err)
			}
			continue
		}
		h.complete(t, []*driver.JobRow{j})
		kept := &driver.CompletedJob{UUID: j.UUID, Queue: j.Queue, Kind: j.Kind, Attempts: j.Attempts, JobID: j.ID,
			Payload: j.Payload, ErrorLog: j.ErrorLog}
		if err := adm.CompletedRecord(h.ctx, []*driver.CompletedJob{kept}); err != nil {
			t.Fatalf("record completed: %v", err)
		}
	}

	failed, err := b.JobFind(h.ctx, &driver.JobFindParams{UUID: failing.UUID})
	if err != nil {
		t.Fatalf("find the failed job: %v", err)
	}
	if failed.State != driver.JobStateFailed || !slices.Equal(attempts(failed.Errors), []int{1, 2}) {
		t.Fatalf("failed job: state %s, error log attempts %v; want failed with [1 2]", failed.State, attempts(failed.Errors))
	}
	if failed.Errors[1].Error != "smtp: 550 mailbox full\ncaused by: …" || failed.Errors[1].At != at+5 {
		t.Errorf("the final attempt's entry = %+v", failed.Errors[1])
	}
	list, err := adm.FailedList(h.ctx, &driver.FailedListParams{Queue: "errlog"})
	if err != nil || len(list) != 1 || !slices.Equal(attempts(driver.ParseErrorLog(list[0].ErrorLog)), []int{1, 2}) {
		t.Fatalf("failed list: %v, %+v; want one job with its error log", err, list)
	}
	// The longest log AppendErrorLog writes, of errors that JSON spells
	// out at length (markup, control characters), fits the column: a job
	// whose retry could not store its log would stay stuck.
	var worst []byte
	for i := 1; i <= driver.MaxErrorLogEntries+2; i++ {
		worst = driver.AppendErrorLog(worst, driver.AttemptError{Attempt: i, At: at, Error: strings.Repeat("<\x01\"", driver.MaxErrorLogText)})
	}
	big := tagged("errlog-big", "Flaky")
	big.MaxAttempts = 20
	h.insert(t, big)
	j := h.claim(t, driver.JobClaimParams{Queues: []string{"errlog-big"}, Max: 1})[0]
	rp := retryOf(j)
	rp.Error, rp.ErrorLog = "<\x01\"", worst
	if stale, err := h.d.JobRetryMany(h.ctx, []*driver.JobRetryParams{rp}); err != nil || len(stale) > 0 {
		t.Fatalf("retry with a %d-byte error log: stale %v, %v", len(worst), stale, err)
	}
	j = h.claim(t, driver.JobClaimParams{Queues: []string{"errlog-big"}, Max: 1})[0]
	if got := driver.ParseErrorLog(j.ErrorLog); len(got) == 0 || got[len(got)-1].Attempt != driver.MaxErrorLogEntries+2 {
		t.Fatalf("claim after a retry with a long log: %d entries read back", len(got))
	}
	fp := failOf(j, "<\x01\"")
	fp.ErrorLog = worst
	if stale, err := h.d.JobFailMany(h.ctx, []*driver.JobFailParams{fp}); err != nil || len(stale) > 0 {
		t.Fatalf("fail with a %d-byte error log: stale %v, %v", len(worst), stale, err)
	}
	if list, err := adm.FailedList(h.ctx, &driver.FailedListParams{Queue: "errlog-big"}); err != nil || len(list) != 1 ||
		len(driver.ParseErrorLog(list[0].ErrorLog)) == 0 {
		t.Fatalf("failed list after a long log: %v, %d rows", err, len(list))
	}

	completed, err := b.JobFind(h.ctx, &driver.JobFindParams{UUID: done.UUID})
	if err != nil {
		t.Fatalf("find the completed job: %v", err)
	}
	if completed.State != driver.JobStateCompleted || !slices.Equal(attempts(completed.Errors), []int{1}) {
		t.Fatalf("completed job: state %s, error log attempts %v; want completed with [1]", completed.State, attempts(completed.Errors))
	}
}
