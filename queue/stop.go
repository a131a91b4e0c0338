package queue

import (
	"log/slog"
	"time"
)

// stopKind says why a run is stopping.
type stopKind int

const (
	running  stopKind = iota
	softStop          // a limit or signal: let running jobs finish
	hardStop          // ctx cancelled: finish within StopTimeout
)

// stopper is the stop state of one run. The run's loop asks it to stop
// (a limit reached, a restart signal, its context cancelled) and reads
// its two timers: it keeps the first reason given, only ever moves to a
// harder stop, and a hard stop arms StopTimeout, after which the running
// jobs are cancelled and, a grace later, released.
type stopper struct {
	state  stopKind
	reason error
	// timeout is StopTimeout; grace how long cancelled jobs get to return
	// before they are released.
	timeout, grace time.Duration
	// timer fires StopTimeout after a hard stop began; release fires the
	// grace after the running jobs were cancelled.
	timer, release <-chan time.Time
	// cancelled is set once the running jobs were cancelled; forced once
	// those still running were released, when the loop ends without
	// waiting for them or for claims under way.
	cancelled, forced bool
	log               *slog.Logger
}

func newStopper(timeout, grace time.Duration, log *slog.Logger) *stopper {
	return &stopper{timeout: timeout, grace: grace, log: log}
}

// stop moves the run to kind, unless it is already stopping at least as
// hard, logging the first stop with why and the jobs still running.
func (s *stopper) stop(kind stopKind, reason error, why string, runningJobs int) {
	if s.reason == nil {
		s.reason = reason
	}
	if kind <= s.state {
		return
	}
	if s.state == running {
		s.log.Info("queue: worker stopping", "running", runningJobs, "reason", why)
	}
	s.state = kind
	if kind == hardStop {
		s.timer = time.After(s.timeout)
	}
}

// stopping reports whether the run claims no more jobs.
func (s *stopper) stopping() bool { return s.state != running }

// timedOut records that StopTimeout passed: the loop cancels the running
// jobs, and release fires after the grace.
func (s *stopper) timedOut() {
	s.timer = nil
	s.cancelled = true
	s.release = time.After(s.grace)
}

// released records that the jobs still running after the grace were
// released: the run ends now.
func (s *stopper) released() {
	s.release = nil
	s.forced = true
}
