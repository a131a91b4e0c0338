package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
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
// moves the clock, and the local monotonic clock, by the time slept, then
// step (when set) may move the clock again or make it fail, as a wall
// clock that jumps or a database that goes away would. The monotonic clock
// starts at the clock's time and only moves by the time slept, so it is
// the time an unjumped clock would read. The loop is stopped once the
// clock (or, with onMono, the monotonic clock) passes until.
type clockScript struct {
	t      *testing.T
	clock  *fakeClock
	until  time.Time
	onMono bool
	step   func(n int, c *fakeClock)
	// db and disp, when set, give the runner its locks, run log and
	// dispatcher.
	db   *store.DB
	disp Dispatcher

	r      *Runner
	rec    *runRecorder
	mono   time.Time
	sleeps []time.Duration
	// late lists the sleeps the loop began behind the monotonic clock:
	// its last tick was before the minute the monotonic clock was in.
	late []string
}

// run builds the runner (on the first call) and runs its loop until the
// script stops it; called again, it runs the loop again on the same
// runner, as serve's supervisor does.
func (s *clockScript) run(events ...*Event) *runRecorder {
	s.t.Helper()
	if s.r == nil {
		sched, err := New(jakarta, events...)
		require.NoError(s.t, err)
		s.rec = &runRecorder{}
		cfg := Config{Schedule: sched, Clock: s.clock, Logger: slog.New(s.rec), Host: "h1", Dispatcher: s.disp}
		if s.db != nil {
			cfg.DB = s.db
		}
		s.r, err = NewRunner(cfg)
		require.NoError(s.t, err)
		s.mono = s.clock.get()
	}
	r := s.r
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The monotonic clock moves only by the time slept; the wall clock's
	// jumps do not touch it.
	r.mono = func() time.Time { return s.mono }
	r.sleep = func(ctx context.Context, d time.Duration) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if last := r.Status().LastTick; !last.IsZero() && last.Before(Tick(s.mono)) {
			s.late = append(s.late, fmt.Sprintf("at %s the last tick run was %s",
				s.mono.In(jakarta).Format("15:04:05"), last.In(jakarta).Format("15:04")))
		}
		// A minute passes between two ticks: the events of one are done
		// by the next, as they are in production.
		r.ticks.Wait()
		s.mono = s.mono.Add(d)
		s.sleeps = append(s.sleeps, d)
		s.clock.set(s.clock.get().Add(d))
		if s.step != nil {
			s.step(len(s.sleeps), s.clock)
		}
		now := s.clock.get()
		if s.onMono {
			now = s.mono
		}
		if now.After(s.until) {
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
	case <-time.After(60 * time.Second):
		s.t.Fatal("the scheduler loop did not finish")
	}
	for i, d := range s.sleeps {
		// No sleep outlasts a minute: whatever the clock does, the loop
		// looks at it again within a minute.
		require.LessOrEqual(s.t, d, time.Minute+wakeSlack, "sleep %d", i)
		require.Greater(s.t, d, time.Duration(0), "sleep %d", i)
	}
	return s.rec
}

func noop(context.Context) error { return nil }

// year2030 keeps the fake clock far from the real one, so a tick computed
// from the local clock would show.
func year2030(hhmmss string) time.Time { return at(jakarta, "2030-01-15 "+hhmmss) }

// minutes lists the ticks from..to ("15:04"), every step minutes.
func minutes(from, to string, step int) []string {
	var out []string
	for t := year2030(from + ":00"); !t.After(year2030(to + ":00")); t = t.Add(time.Duration(step) * time.Minute) {
		out = append(out, t.Format("15:04"))
	}
	return out
}

const wentBack = "schedule: the clock went back; ticking on the monotonic clock until it catches up"

func TestRunLoopSmallBackwardJumpNeitherStallsNorRepeats(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:06:30"), onMono: true}
	jumped := false
	s.step = func(n int, c *fakeClock) {
		// Just before the 10:03 tick, the clock is set back three
		// minutes, behind the 10:01 and 10:02 ticks already run.
		if !jumped && !c.get().Before(year2030("10:03:00")) {
			jumped = true
			c.set(c.get().Add(-3 * time.Minute))
		}
	}
	rec := s.run(
		Func("each", noop),
		Func("at-one", noop).Cron("1 * * * *"),
		Func("at-two", noop).Cron("2 * * * *"),
		Func("at-four", noop).Cron("4 * * * *"),
	)
	require.True(t, jumped)
	require.True(t, s.clock.get().Equal(s.mono.Add(-3*time.Minute)), "the clock stayed three minutes behind")
	ran := rec.ran()
	// By the monotonic clock it is past 10:06: every minute up to 10:06
	// ran once, on time, although the clock read 10:00 to 10:03 meanwhile.
	require.Equal(t, minutes("10:00", "10:06", 1), ran["each"])
	require.Equal(t, []string{"10:01"}, ran["at-one"], "the clock passed 10:01 again: it did not run again")
	require.Equal(t, []string{"10:02"}, ran["at-two"], "the clock passed 10:02 again: it did not run again")
	require.Equal(t, []string{"10:04"}, ran["at-four"], "due next by the monotonic clock, it ran on time")
	require.Empty(t, s.late, "the loop never waited for the clock to catch up")
	require.Equal(t, 1, rec.count(wentBack))
	require.Zero(t, rec.count("schedule: ticks missed"))
}

func TestRunLoopLargeBackwardJumpRepeatsNoTick(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		s := &clockScript{t: t, db: db, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("11:20:30"), onMono: true}
		jumped := false
		s.step = func(n int, c *fakeClock) {
			// At 11:10, seventy ticks later, the clock is set back 65
			// minutes, into ticks that ran: 10:05.
			if !jumped && !c.get().Before(year2030("11:10:00")) {
				jumped = true
				c.set(c.get().Add(-65 * time.Minute))
				// The tick locks of 10:10 and before were taken over an
				// hour ago, so they have expired. The database judges
				// that by its own clock, which the test cannot move:
				// expire them by hand.
				for tick := year2030("10:00:00"); !tick.After(year2030("10:10:00")); tick = tick.Add(time.Minute) {
					for _, name := range []string{"one", "five"} {
						expireLock(t, db, tickKey(name, tick))
					}
				}
			}
		}
		rec := s.run(
			Func("each", noop),
			Func("one", noop).OnOneServer(),
			Func("five", noop).EveryFiveMinutes().OnOneServer(),
			Func("ten", noop).EveryTenMinutes(),
		)
		require.True(t, jumped)
		ran := rec.ran()
		// By the monotonic clock it is past 11:20, by the clock past
		// 10:15. Every event ran on every tick it was due on, once, and none of
		// 10:05 to 10:15 ran again, with OnOneServer or without.
		require.Equal(t, minutes("10:00", "11:20", 1), ran["each"])
		require.Equal(t, minutes("10:00", "11:20", 1), ran["one"])
		require.Equal(t, minutes("10:00", "11:20", 5), ran["five"])
		require.Equal(t, minutes("10:00", "11:20", 10), ran["ten"])
		require.Empty(t, s.late)
		require.Equal(t, 1, rec.count(wentBack))

		var twice int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM (SELECT name, tick FROM schedule_runs GROUP BY name, tick HAVING COUNT(*) > 1) d").Scan(&twice))
		require.Zero(t, twice, "schedule_runs holds each event's tick once")
	})
}

func TestRunLoopStartedAgainWhileTheClockIsBehind(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:05:30"), onMono: true}
	jumped := false
	s.step = func(n int, c *fakeClock) {
		if !jumped && !c.get().Before(year2030("10:03:00")) {
			jumped = true
			c.set(c.get().Add(-3 * time.Minute))
		}
	}
	events := []*Event{Func("each", noop), Func("at-one", noop).Cron("1 * * * *")}
	s.run(events...)
	// serve's supervisor starts the loop again on the same runner (its
	// start-up just failed, say) while the clock is still behind: it goes
	// on from where it was, neither waiting nor repeating.
	s.until = year2030("10:08:30")
	rec := s.run()
	require.Equal(t, minutes("10:00", "10:08", 1), rec.ran()["each"])
	require.Equal(t, []string{"10:01"}, rec.ran()["at-one"])
	require.Empty(t, s.late)
	require.Equal(t, 2, rec.count(wentBack), "each loop logs the clock it finds behind")
}

func TestRunLoopClockThatComesBack(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:10:30")}
	back := false
	s.step = func(n int, c *fakeClock) {
		switch now := c.get(); {
		case !back && !now.Before(year2030("10:03:00")):
			// A failover to a database server whose clock is ten minutes
			// behind...
			back = true
			c.set(now.Add(-10 * time.Minute))
		case back && !now.Before(year2030("09:57:00")) && now.Before(year2030("10:00:00")):
			// ...and, four minutes later, back to one that is right.
			c.set(now.Add(10 * time.Minute))
		}
	}
	rec := s.run(Func("each", noop), Func("five", noop).EveryFiveMinutes())
	ran := rec.ran()
	// The clock's jump forward brings it back to the time the loop
	// followed: nothing was missed, nothing is caught up or repeated.
	require.Equal(t, minutes("10:00", "10:10", 1), ran["each"])
	require.Equal(t, minutes("10:00", "10:10", 5), ran["five"])
	require.Empty(t, s.late)
	require.Equal(t, 1, rec.count(wentBack))
	require.Equal(t, 1, rec.count("schedule: the clock caught up; ticking on it again"))
	require.Zero(t, rec.count("schedule: ticks missed"))
}

func TestRunLoopForwardJumpWhileTheClockIsBehind(t *testing.T) {
	s := &clockScript{t: t, clock: &fakeClock{now: year2030("10:00:00.5")}, until: year2030("10:14:30")}
	back, forward := false, false
	s.step = func(n int, c *fakeClock) {
		switch now := c.get(); {
		case !back && !now.Before(year2030("10:03:00")):
			back = true
			c.set(now.Add(-3 * time.Minute)) // 10:00, while the loop goes on to 10:03
		case back && !forward && !now.Before(year2030("10:03:00")):
			// Three minutes on, the clock jumps ten minutes forward: to
			// 10:13, past the 10:06 the loop follows.
			forward = true
			c.set(now.Add(10 * time.Minute))
		}
	}
	rec := s.run(
		Func("each", noop),
		Func("five", noop).EveryFiveMinutes(),
		Func("at-seven", noop).Cron("7 * * * *"),
	)
	require.True(t, forward)
	ran := rec.ran()
	// Up to 10:05 the loop ticked on the monotonic clock. Then the clock
	// jumped past it, to 10:13: 10:06 to 10:12 were jumped over, and, as
	// for any jump forward, each event due in them ran once, on the latest
	// tick it was due on.
	require.Equal(t, append(minutes("10:00", "10:05", 1), minutes("10:13", "10:14", 1)...), ran["each"])
	require.Equal(t, []string{"10:00", "10:05", "10:10"}, ran["five"])
	require.Equal(t, []string{"10:07"}, ran["at-seven"])
	require.Empty(t, s.late)
	require.Equal(t, 1, rec.count("schedule: ticks missed"))
	require.Equal(t, 2, rec.count("schedule: running a missed tick's event once"))
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

func TestRunDueSkipsOnOneServerTicksThatRanBeforeTheClockWentBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		ctx := context.Background()
		disp := &tableDispatcher{db: db}
		logs := &syncBuffer{}
		// due is one `schedule run`, as cron starts it on a server every
		// minute: a process of its own, which remembers nothing.
		due := func(host, hhmmss string) map[string]Outcome {
			t.Helper()
			s, err := New(jakarta,
				Job(kindArgs{"One"}).Name("one").OnOneServer(),
				Job(kindArgs{"Five"}).EveryFiveMinutes().Name("five").OnOneServer(),
			)
			require.NoError(t, err)
			r, err := NewRunner(Config{Schedule: s, Dispatcher: disp, DB: db, Host: host,
				Clock: &fakeClock{now: year2030(hhmmss)}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			require.NoError(t, err)
			res, err := r.RunDue(ctx)
			require.NoError(t, err)
			return outcomes(res)
		}
		// Two servers run it from 10:00 to 10:10.
		for m := range 11 {
			for _, host := range []string{"a", "b"} {
				due(host, fmt.Sprintf("10:%02d:01", m))
			}
		}
		require.Equal(t, 11, countJobs(t, db, "One"))
		require.Equal(t, 3, countJobs(t, db, "Five"))

		// Over an hour later the tick locks have expired (by the
		// database's own clock, which the test cannot move: expired by
		// hand), and the clock is set back to 10:04.
		_, err := db.Exec("UPDATE cache_locks SET expiration = expiration - 7200 WHERE " + keyCol(d) + " LIKE 'schedule:%'")
		require.NoError(t, err)
		for m := 4; m <= 10; m++ {
			// The first server to take the tick's lock finds the run
			// recorded and skips it; the others find the lock taken.
			require.Empty(t, due("c", fmt.Sprintf("10:%02d:01", m)), "10:%02d ran already", m)
			for _, host := range []string{"a", "b"} {
				for event, outcome := range due(host, fmt.Sprintf("10:%02d:01", m)) {
					require.Equal(t, OutcomeOtherServer, outcome, "10:%02d, %s, server %s", m, event, host)
				}
			}
		}
		require.Equal(t, 11, countJobs(t, db, "One"), "no tick ran twice")
		require.Equal(t, 3, countJobs(t, db, "Five"), "no tick ran twice")
		require.Contains(t, logs.String(), "a run of this tick or a later one is recorded: the clock went back")

		// 10:11 never ran: it runs, on one server.
		require.Equal(t, map[string]Outcome{"one": OutcomeDispatched}, due("c", "10:11:01"))
		require.Equal(t, map[string]Outcome{"one": OutcomeOtherServer}, due("a", "10:11:01"))

		// `schedule run --time` runs the tick it is given, for recovery:
		// only a tick lock holds it back, and this one has expired.
		expireLock(t, db, tickKey("five", year2030("10:05:00")))
		s, err := New(jakarta, Job(kindArgs{"Five"}).EveryFiveMinutes().Name("five").OnOneServer())
		require.NoError(t, err)
		r, err := NewRunner(Config{Schedule: s, Dispatcher: disp, DB: db, Host: "c"})
		require.NoError(t, err)
		require.Equal(t, map[string]Outcome{"five": OutcomeDispatched}, outcomes(r.RunTick(ctx, year2030("10:05:00"))))
	})
}
