package cli

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tripintravel/tripin/internal/httpapi"
)

// Defaults of supervisorParams fields left zero.
const (
	// defaultMinBackoff is the wait before the first restart of a part
	// that stopped; it doubles on every run that ends before
	// defaultBackoffReset.
	defaultMinBackoff = time.Second
	// defaultMaxBackoff caps the wait between two restarts.
	defaultMaxBackoff = time.Minute
	// defaultBackoffReset is how long a run must last to count as
	// healthy: the run after it starts again from defaultMinBackoff.
	defaultBackoffReset = 5 * time.Minute
	// defaultSettle is how long a run restarted after a failure must last
	// before the part is reported up again: a start-up error ends a run
	// within moments, so a part that keeps failing to start is never
	// "up" in between.
	defaultSettle = 10 * time.Second
	// defaultDownAfter is how long a part may keep failing before /readyz
	// reports it down. With the backoff above, that is after about four
	// attempts, well inside the 30 seconds operators are promised.
	defaultDownAfter = 10 * time.Second
)

// supervisorParams configure a supervisor.
type supervisorParams struct {
	// Name names the part in logs and in /readyz ("worker", "scheduler").
	Name string
	// Run is one run of the part: it works until ctx ends (and then
	// returns nil) or until it stops on its own, with an error or without
	// (the worker ends its run cleanly on `queue restart`).
	Run func(ctx context.Context) error
	// Heartbeat, when set, reports the part's own sign of life (the
	// worker loop's one-second tick, the scheduler's last loop iteration)
	// for /readyz.
	Heartbeat func() time.Time
	// StaleAfter, with Heartbeat, reports a running part down once its
	// heartbeat is older than this: a run that is wedged without
	// returning is not up.
	StaleAfter time.Duration
	Logger     *slog.Logger
	// MinBackoff, MaxBackoff, BackoffReset, Settle and DownAfter default
	// to the constants above; tests shorten them.
	MinBackoff   time.Duration
	MaxBackoff   time.Duration
	BackoffReset time.Duration
	Settle       time.Duration
	DownAfter    time.Duration
}

// supervisor keeps one background part of `serve` running, as a process
// supervisor keeps a dedicated `queue work` running: whenever the part's
// run returns, for whatever reason other than Stop — an error, a panic, a
// clean exit it chose itself — it is started again after a backoff that
// doubles from MinBackoff to MaxBackoff and starts over after a healthy
// run of BackoffReset. Status reports the part for /readyz: down once it
// has kept failing for DownAfter.
type supervisor struct {
	p   supervisorParams
	log *slog.Logger
	now func() time.Time

	mu           sync.Mutex
	started      bool
	stopping     bool
	running      bool
	startedAt    time.Time // start of the current or last run
	restarts     int       // runs started after the first
	failures     int       // consecutive failed runs, for the backoff
	failingSince time.Time // first failure of the current streak; zero when healthy
	lastErr      error     // why the last run ended, when it failed
	cancel       context.CancelFunc
	done         chan struct{}
}

func newSupervisor(p supervisorParams) *supervisor {
	if p.MinBackoff <= 0 {
		p.MinBackoff = defaultMinBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(defaultMaxBackoff, p.MinBackoff)
	}
	if p.BackoffReset <= 0 {
		p.BackoffReset = defaultBackoffReset
	}
	if p.Settle <= 0 {
		p.Settle = defaultSettle
	}
	if p.DownAfter <= 0 {
		p.DownAfter = defaultDownAfter
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &supervisor{p: p, log: log.With("part", p.Name), now: time.Now}
}

// Start runs the part in the background until ctx ends or Stop is called.
func (s *supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("serve: %s: already started", s.p.Name)
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

// Stop stops the part — its run gets ctx's time to finish gracefully —
// and waits for it, or for ctx.
func (s *supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("serve: stop %s: %w", s.p.Name, ctx.Err())
	}
}

func (s *supervisor) loop(ctx context.Context) {
	defer close(s.done)
	for {
		s.mu.Lock()
		s.running, s.startedAt = true, s.now()
		s.mu.Unlock()

		err := s.runOnce(ctx)

		s.mu.Lock()
		s.running = false
		lasted := s.now().Sub(s.startedAt)
		if ctx.Err() != nil {
			s.mu.Unlock()
			if err != nil {
				s.log.Error("serve: part stopped with an error", "error", err)
			}
			return
		}
		if lasted >= s.p.Settle {
			// The run had started properly: whatever ended it begins a new
			// streak.
			s.failingSince = time.Time{}
		}
		if lasted >= s.p.BackoffReset {
			s.failures = 0
		}
		delay := s.p.MinBackoff
		if err != nil {
			s.failures++
			s.lastErr = err
			if s.failingSince.IsZero() {
				s.failingSince = s.now()
			}
			delay = backoffDelay(s.p.MinBackoff, s.p.MaxBackoff, s.failures)
			s.log.Error("serve: part stopped; restarting", "error", err, "ran", lasted.Round(time.Millisecond).String(),
				"restart_in", delay.String(), "failures", s.failures)
		} else {
			// A run that ends cleanly on its own asked to be restarted (the
			// worker does on `queue restart`): it is not a failure.
			s.log.Info("serve: part ended its run; restarting", "ran", lasted.Round(time.Millisecond).String(), "restart_in", delay.String())
		}
		s.mu.Unlock()

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
	}
}

// runOnce runs the part once, turning a panic into an error so that a bug
// in one run is restarted like any other failure instead of taking the
// web server down with it.
func (s *supervisor) runOnce(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("serve: part panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return s.p.Run(ctx)
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// backoffDelay is min·2^(failures-1), capped at max.
func backoffDelay(minDelay, maxDelay time.Duration, failures int) time.Duration {
	d := minDelay
	for i := 1; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// Status reports the part for /readyz.
func (s *supervisor) Status() httpapi.PartStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := httpapi.PartStatus{Name: s.p.Name, Restarts: s.restarts}
	if !s.startedAt.IsZero() {
		t := s.startedAt
		st.StartedAt = &t
	}
	var stale time.Duration // how long the heartbeat of a running part is overdue
	if s.p.Heartbeat != nil {
		hb := s.p.Heartbeat()
		if !hb.IsZero() {
			st.LastHeartbeat = &hb
		}
		if last := maxTime(hb, s.startedAt); s.running && s.p.StaleAfter > 0 && now.Sub(last) > s.p.StaleAfter {
			stale = now.Sub(last)
		}
	}
	failing := !s.failingSince.IsZero() && !(s.running && now.Sub(s.startedAt) >= s.p.Settle)
	switch {
	case s.started && !s.stopping && stale > 0:
		st.State = httpapi.PartDown
		st.Error = fmt.Sprintf("no heartbeat for %s: the %s is stuck", stale.Round(time.Second), s.p.Name)
		return st
	case !s.started:
		st.State = httpapi.PartStarting
	case s.stopping:
		st.State = httpapi.PartStopped
	case failing && now.Sub(s.failingSince) >= s.p.DownAfter:
		st.State = httpapi.PartDown
		since := s.failingSince
		st.DownSince = &since
	case failing || !s.running:
		st.State = httpapi.PartRestarting
	default:
		st.State = httpapi.PartUp
	}
	if failing && s.lastErr != nil {
		st.Error = s.lastErr.Error()
	}
	return st
}

// serveParts are the background parts of `serve` that /readyz lists, in a
// fixed order: the worker, then the scheduler.
type serveParts struct {
	mu      sync.Mutex
	names   []string
	enabled map[string]bool
	sups    map[string]*supervisor
}

// newServeParts lists the worker and the scheduler, each enabled or
// disabled (--no-worker, --no-scheduler).
func newServeParts(worker, scheduler bool) *serveParts {
	return &serveParts{
		names:   []string{"worker", "scheduler"},
		enabled: map[string]bool{"worker": worker, "scheduler": scheduler},
		sups:    map[string]*supervisor{},
	}
}

// add attaches the supervisor of an enabled part.
func (p *serveParts) add(s *supervisor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sups[s.p.Name] = s
}

// Statuses reports every part: disabled, starting (enabled but not yet
// started) or as its supervisor sees it.
func (p *serveParts) Statuses() []httpapi.PartStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]httpapi.PartStatus, 0, len(p.names))
	for _, name := range p.names {
		switch s := p.sups[name]; {
		case !p.enabled[name]:
			out = append(out, httpapi.PartStatus{Name: name, State: httpapi.PartDisabled})
		case s == nil:
			out = append(out, httpapi.PartStatus{Name: name, State: httpapi.PartStarting})
		default:
			out = append(out, s.Status())
		}
	}
	return out
}
