package schedule

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runRecorder is a slog.Handler that keeps the runner's log records, so a
// test can tell which event ran on which tick and what was logged.
type runRecorder struct {
	mu      sync.Mutex
	records []recorded
}

type recorded struct {
	msg   string
	attrs map[string]string
}

func (h *runRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *runRecorder) WithGroup(string) slog.Handler            { return h }

func (h *runRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &boundRecorder{h: h, attrs: as}
}

func (h *runRecorder) Handle(_ context.Context, r slog.Record) error {
	return h.handle(nil, r)
}

func (h *runRecorder) handle(bound []slog.Attr, r slog.Record) error {
	rec := recorded{msg: r.Message, attrs: map[string]string{}}
	for _, a := range bound {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, rec)
	return nil
}

// boundRecorder is runRecorder with attributes from Logger.With.
type boundRecorder struct {
	h     *runRecorder
	attrs []slog.Attr
}

func (b *boundRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (b *boundRecorder) WithGroup(string) slog.Handler            { return b }
func (b *boundRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &boundRecorder{h: b.h, attrs: append(append([]slog.Attr(nil), b.attrs...), as...)}
}
func (b *boundRecorder) Handle(_ context.Context, r slog.Record) error { return b.h.handle(b.attrs, r) }

// ran returns, per event, the ticks ("15:04") it ran on, in order.
func (h *runRecorder) ran() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for _, r := range h.records {
		if r.msg == "schedule: ran" {
			tick := r.attrs["tick"] // "2006-01-02 15:04 MST"
			out[r.attrs["event"]] = append(out[r.attrs["event"]], tick[11:16])
		}
	}
	for _, ticks := range out {
		sort.Strings(ticks)
	}
	return out
}

func (h *runRecorder) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.msg == msg {
			n++
		}
	}
	return n
}

// clockScript drives a runner's Run loop with a fake clock: every sleep
// moves the clock by the time slept, then step (when set) may move it
// again or make it fail, as a wall clock that jumps or a database that
// goes away would. The loop is stopped once the clock passes until.
type clockScript struct {
	t      *testing.T
	clock  *fakeClock
	until  time.Time
	step   func(n int, c *fakeClock)
	sleeps []time.Duration
}

func (s *clockScript) run(events ...*Event) *runRecorder {
	s.t.Helper()
	sched, err := New(jakarta, events...)
	require.NoError(s.t, err)
	rec := &runRecorder{}
	r, err := NewRunner(Config{Schedule: sched, Clock: s.clock, Logger: slog.New(rec)})
	require.NoError(s.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The monotonic clock moves only by the time slept; the wall clock's
	// jumps do not touch it.
	mono := year2030("00:00:00")
	r.mono = func() time.Time { return mono }
	r.sleep = func(ctx context.Context, d time.Duration) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		mono = mono.Add(d)
		s.sleeps = append(s.sleeps, d)
		s.clock.set(s.clock.get().Add(d))
		if s.step != nil {
			s.step(len(s.sleeps), s.clock)
		}
		if s.clock.get().After(s.until) {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case err := <-done:
		require.NoError(s.t, err)
	case <-time.After(30 * time.Second):
		s.t.Fatal("the scheduler loop did not finish")
	}
	for i, d := range s.sleeps {
		// No sleep outlasts a minute: whatever the clock does, the loop
		// looks at it again within a minute.
		require.LessOrEqual(s.t, d, time.Minute+wakeSlack, "sleep %d", i)
		require.Greater(s.t, d, time.Duration(0), "sleep %d", i)
	}
	return rec
}

func noop(context.Context) error { return nil }

// year2030 keeps the fake clock far from the real one, so a tick computed
// from the local clock would show.
func year2030(hhmmss string) time.Time { return at(jakarta, "2030-01-15 "+hhmmss) }

func TestRunLoopBackwardJumpWaitsWithoutRepeating(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:05:30")}
	jumped := false
	s.step = func(n int, c *fakeClock) {
		// Just past the 10:02 tick, the clock is set back three minutes.
		if !jumped && !c.get().Before(year2030("10:02:00")) {
			jumped = true
			c.set(c.get().Add(-3 * time.Minute))
		}
	}
	rec := s.run(Func("each", noop))
	require.True(t, jumped)
	require.Equal(t, []string{"10:00", "10:01", "10:02", "10:03", "10:04", "10:05"}, rec.ran()["each"],
		"every tick runs once: none is repeated while the clock is behind, and the loop carries on after it")
	require.Positive(t, rec.count("schedule: the clock went back; waiting for it to pass the last tick run"))
}

func TestRunLoopLargeBackwardJumpGoesOnFromTheClock(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("08:03:30")}
	jumped := false
	s.step = func(n int, c *fakeClock) {
		if !jumped && !c.get().Before(year2030("10:01:00")) {
			jumped = true
			c.set(c.get().Add(-2 * time.Hour)) // 08:01:00
		}
	}
	rec := s.run(Func("each", noop))
	require.True(t, jumped)
	// The minute the clock jumped into is taken as begun (as on start
	// mid-minute); the loop goes on from the next one instead of waiting
	// two hours.
	require.Equal(t, []string{"08:02", "08:03", "10:00"}, rec.ran()["each"])
	require.Equal(t, 1, rec.count("schedule: the clock went back; going on from it"))
}

func TestRunLoopForwardJumpRunsMissedEventsOnce(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:15:30")}
	jumped := false
	s.step = func(n int, c *fakeClock) {
		if !jumped && !c.get().Before(year2030("10:01:00")) {
			jumped = true
			c.set(c.get().Add(10 * time.Minute)) // 10:11:00
		}
	}
	rec := s.run(
		Func("each", noop),
		Func("five", noop).EveryFiveMinutes(),
		Func("at-seven", noop).Cron("7 * * * *"),
		Func("at-nine", noop).Cron("9 * * * *"),
		Func("hourly", noop).Hourly(),
	)
	require.True(t, jumped)
	ran := rec.ran()
	// The ticks from 10:01 to 10:10 were jumped over. An event due on
	// 10:11 runs there only; one due in the gap runs once, on the latest
	// tick it was due on; the ticks are not replayed one by one.
	require.Equal(t, []string{"10:00", "10:11", "10:12", "10:13", "10:14", "10:15"}, ran["each"])
	require.Equal(t, []string{"10:00", "10:10", "10:15"}, ran["five"])
	require.Equal(t, []string{"10:07"}, ran["at-seven"])
	require.Equal(t, []string{"10:09"}, ran["at-nine"])
	require.Equal(t, []string{"10:00"}, ran["hourly"])
	require.Equal(t, 1, rec.count("schedule: ticks missed"))
	require.Equal(t, 3, rec.count("schedule: running a missed tick's event once"))
}

func TestRunLoopForwardJumpPastTheCatchUpWindow(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("13:06:30")}
	jumped := false
	s.step = func(n int, c *fakeClock) {
		if !jumped && !c.get().Before(year2030("10:01:00")) {
			jumped = true
			c.set(c.get().Add(3*time.Hour + 3*time.Minute)) // 13:04:00
		}
	}
	rec := s.run(Func("each", noop), Func("five", noop).EveryFiveMinutes())
	require.True(t, jumped)
	ran := rec.ran()
	require.Equal(t, []string{"10:00", "13:04", "13:05", "13:06"}, ran["each"])
	require.Equal(t, []string{"10:00", "13:05"}, ran["five"], "after hours, the missed ticks are only logged")
	require.Zero(t, rec.count("schedule: running a missed tick's event once"))
}

func TestRunLoopSkipsTicksWhileTheClockCannotBeRead(t *testing.T) {
	down := errors.New("store: database clock: connection refused")
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:06:30")}
	s.step = func(n int, c *fakeClock) {
		// The database is unreachable from 10:01:30 to 10:04:30.
		now := c.get()
		c.setFail(nil)
		if now.After(year2030("10:01:30")) && now.Before(year2030("10:04:30")) {
			c.setFail(down)
		}
	}
	rec := s.run(
		Func("each", noop),
		Func("at-three", noop).Cron("3 * * * *"),
	)
	ran := rec.ran()
	// 10:02, 10:03 and 10:04 could not be read: they are skipped, never
	// guessed from the local clock (which is years away). When the clock
	// answers again, the event due only on a skipped tick runs once.
	require.Equal(t, []string{"10:00", "10:01", "10:05", "10:06"}, ran["each"])
	require.Equal(t, []string{"10:03"}, ran["at-three"])
	require.Equal(t, 3, rec.count("schedule: the clock cannot be read; tick skipped"))
	for _, r := range rec.records {
		if r.msg == "schedule: ran" {
			require.True(t, strings.HasPrefix(r.attrs["tick"], "2030-01-15 10:0"), "tick %s", r.attrs["tick"])
		}
	}
}

func TestRunLoopStatus(t *testing.T) {
	clock := &fakeClock{now: year2030("10:00:00.5")}
	sched, err := New(jakarta, Func("each", noop))
	require.NoError(t, err)
	r, err := NewRunner(Config{Schedule: sched, Clock: clock})
	require.NoError(t, err)
	down := errors.New("database down")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	statuses := make(chan Status, 10)
	n := 0
	mono := year2030("00:00:00")
	r.mono = func() time.Time { return mono }
	r.sleep = func(ctx context.Context, d time.Duration) error {
		n++
		mono = mono.Add(d)
		statuses <- r.Status()
		clock.set(clock.get().Add(d))
		switch n {
		case 1:
			clock.setFail(down)
		case 2:
			clock.setFail(nil)
		case 3:
			cancel()
			return ctx.Err()
		}
		return nil
	}
	require.Zero(t, r.Status().Heartbeat)
	require.NoError(t, r.Run(ctx))
	first, failed, back := <-statuses, <-statuses, <-statuses
	require.True(t, first.LastTick.Equal(year2030("10:00:00")))
	require.NoError(t, first.ClockError)
	require.False(t, first.Heartbeat.IsZero())
	require.ErrorIs(t, failed.ClockError, down)
	require.True(t, failed.LastTick.Equal(year2030("10:00:00")), "no tick ran while the clock failed")
	require.NoError(t, back.ClockError)
	require.True(t, back.LastTick.Equal(year2030("10:02:00")), "ticks run again once the clock answers")
}

func TestRunFailsWhenTheClockCannotBeReadAtStart(t *testing.T) {
	clock := &fakeClock{now: year2030("10:00:00.5"), fail: errors.New("database down")}
	sched, err := New(jakarta, Func("each", noop))
	require.NoError(t, err)
	r, err := NewRunner(Config{Schedule: sched, Clock: clock})
	require.NoError(t, err)
	err = r.Run(context.Background())
	require.ErrorContains(t, err, "database down")
	require.ErrorIs(t, r.Status().ClockError, clock.fail)

	_, err = r.RunDue(context.Background())
	require.ErrorContains(t, err, "database down", "schedule run runs nothing rather than guess the time")
	_, err = r.RunNow(context.Background(), "each")
	require.ErrorContains(t, err, "database down")
}
