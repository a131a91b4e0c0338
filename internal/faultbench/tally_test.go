package faultbench

import (
	"testing"
	"time"
)

// TestTally checks the ledger arithmetic the matrix rests on: a job with
// two done rows ran twice, a job with none and no failed_jobs row that is
// no longer queued is lost, and a job run twice counts as unexplained
// only when its first run began after the fault ended (or, for a worker
// row, when the faulted worker had not begun it).
func TestTally(t *testing.T) {
	at := func(ms int64) int64 { return 1_000_000 + ms }
	l := []ledgerRow{
		{key: "a", pid: 1, phase: phaseStart, at: at(0)}, {key: "a", pid: 1, phase: phaseDone, at: at(50)},
		{key: "b", pid: 1, phase: phaseStart, at: at(10)}, {key: "b", pid: 1, phase: phaseDone, at: at(60)},
		{key: "b", pid: 2, phase: phaseStart, at: at(4000)}, {key: "b", pid: 2, phase: phaseDone, at: at(4050)},
		{key: "c", pid: 2, phase: phaseStart, at: at(5000)}, {key: "c", pid: 2, phase: phaseDone, at: at(5050)},
		{key: "c", pid: 3, phase: phaseStart, at: at(9000)}, {key: "c", pid: 3, phase: phaseDone, at: at(9050)},
		{key: "d", pid: 2, phase: phaseStart, at: at(100)}, // started, never done: failed below
	}
	failed := map[string]bool{"d": true}
	// 6 pushed: a, b, c done; d failed; one still queued; one vanished.
	lost, twice, nfailed := tally(l, failed, 6, 1)
	if lost != 1 || twice != 2 || nfailed != 1 {
		t.Errorf("tally = lost %d, twice %d, failed %d; want 1, 2, 1", lost, twice, nfailed)
	}
	faultEnd := time.UnixMilli(at(1000))
	if n := twiceUnexplained(l, faultEnd, nil); n != 1 {
		t.Errorf("unexplained after the fault = %d, want 1 (c began after it ended)", n)
	}
	if n := twiceUnexplained(l, faultEnd, map[string]bool{"b": true}); n != 1 {
		t.Errorf("unexplained for a worker row = %d, want 1 (c was not begun by the worker)", n)
	}
	// Completions after the fault: 4.05 s, 5.05 s, 9.05 s.
	if st := longestStall(l, time.UnixMilli(at(1000))); st != 4*time.Second {
		t.Errorf("longest stall = %s, want 4s (between c's two runs)", st)
	}
	if st := longestStall(l, time.UnixMilli(at(8000))); st != 1050*time.Millisecond {
		t.Errorf("longest stall = %s, want 1.05s (from the fault to the first completion after it)", st)
	}
	if st := longestStall(l, time.UnixMilli(at(20000))); st != -1 {
		t.Errorf("longest stall with nothing done after = %s, want -1", st)
	}
}
