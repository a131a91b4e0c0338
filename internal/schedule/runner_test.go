package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// syncBuffer is a log destination safe for concurrent events.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRunner(t *testing.T, db *store.DB, disp Dispatcher, host string, logs *syncBuffer, events ...*Event) *Runner {
	t.Helper()
	s, err := New(jakarta, events...)
	require.NoError(t, err)
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, nil))
	}
	r, err := NewRunner(Config{Schedule: s, Dispatcher: disp, DB: db, Host: host, Logger: log})
	require.NoError(t, err)
	return r
}

func outcomes(rs []Result) map[string]Outcome {
	out := map[string]Outcome{}
	for _, r := range rs {
		out[r.Event] = r.Outcome
	}
	return out
}

func TestRunnerDispatchesDueEvents(t *testing.T) {
	db, _ := openDB(t, store.SQLite)
	logs := &syncBuffer{}
	var ran atomic.Int32
	r := newRunner(t, db, &tableDispatcher{db: db}, "h1", logs,
		Job(kindArgs{"Five"}).EveryFiveMinutes().Name("five"),
		Job(kindArgs{"Hourly"}).Hourly().Name("hourly"),
		Func("inline", func(context.Context) error { ran.Add(1); return nil }),
	)
	res := r.RunTick(context.Background(), at(jakarta, "2026-11-27 10:05:31"))
	require.Equal(t, map[string]Outcome{"five": OutcomeDispatched, "inline": OutcomeRan}, outcomes(res))
	require.Equal(t, 1, countJobs(t, db, "Five"))
	require.Equal(t, 0, countJobs(t, db, "Hourly"))
	require.Equal(t, int32(1), ran.Load())
	for _, r := range res {
		require.True(t, r.Tick.Equal(at(jakarta, "2026-11-27 10:05:00")))
	}
	require.Contains(t, logs.String(), "schedule: dispatched")
	require.Contains(t, logs.String(), "event=five")
	require.Contains(t, logs.String(), "event=inline")

	last, err := r.Runs().Last(context.Background())
	require.NoError(t, err)
	require.Equal(t, OutcomeDispatched, last["five"].Outcome)
	require.NotZero(t, last["five"].JobID)
	require.Equal(t, OutcomeRan, last["inline"].Outcome)
	require.NotContains(t, last, "hourly")
}

func TestRunnerFuncFailureAndPanic(t *testing.T) {
	db, _ := openDB(t, store.SQLite)
	r := newRunner(t, db, nil, "h1", nil,
		Func("fails", func(context.Context) error { return errors.New("boom") }),
		Func("panics", func(context.Context) error { panic("oops") }),
	)
	res := r.RunTick(context.Background(), time.Now())
	require.Equal(t, map[string]Outcome{"fails": OutcomeFailed, "panics": OutcomeFailed}, outcomes(res))
	last, err := r.Runs().Last(context.Background())
	require.NoError(t, err)
	require.Equal(t, "boom", last["fails"].Error)
	require.Contains(t, last["panics"].Error, "oops")
}

func TestRunnerRecoversAPanicInDispatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		for _, tx := range []bool{false, true} {
			t.Run(fmt.Sprintf("tx=%v", tx), func(t *testing.T) {
				db, _ := openDB(t, d)
				ctx := context.Background()
				var disp Dispatcher = &panicDispatcher{db: db}
				if tx {
					disp = &panicTxDispatcher{panicDispatcher{db: db}}
				}
				logs := &syncBuffer{}
				var fine atomic.Int32
				r := newRunner(t, db, disp, "h1", logs,
					Job(kindArgs{"Bad"}).Name("bad").WithoutOverlapping().OnOneServer(),
					Func("fine", func(context.Context) error { fine.Add(1); return nil }),
				)
				tick := at(jakarta, "2026-11-27 10:05:00")
				res := r.RunTick(ctx, tick)
				require.Equal(t, map[string]Outcome{"bad": OutcomeFailed, "fine": OutcomeRan}, outcomes(res))
				for _, res := range res {
					if res.Event == "bad" {
						require.ErrorContains(t, res.Err, "panic: dispatcher bug")
					}
				}
				require.Equal(t, int32(1), fine.Load(), "the tick's other events ran")
				require.Contains(t, logs.String(), "schedule: panic while running an event")
				require.Contains(t, logs.String(), "event=bad")
				require.Contains(t, logs.String(), "helpers_test.go", "the stack is logged, down to the panicking dispatcher")

				last, err := r.Runs().Last(ctx)
				require.NoError(t, err)
				require.Equal(t, OutcomeFailed, last["bad"].Outcome, "the run is recorded as failed")
				require.Contains(t, last["bad"].Error, "panic: dispatcher bug")
				require.Equal(t, 0, countJobs(t, db, "Bad"), "the transaction the panic left open was rolled back")

				// Whether a job went into the queue before the panic is
				// unknown, so the overlap claim is kept until it expires.
				res = r.RunTick(ctx, tick.Add(time.Minute))
				require.Equal(t, OutcomeOverlapping, outcomes(res)["bad"])
				expireLock(t, db, overlapKey("bad"))
				res = r.RunTick(ctx, tick.Add(2*time.Minute))
				require.Equal(t, OutcomeFailed, outcomes(res)["bad"], "tried again, it panics again, and is recovered again")
				require.Equal(t, int32(3), fine.Load())
			})
		}
	})
}

func TestRunLoopCarriesOnAfterAPanicInDispatch(t *testing.T) {
	db, _ := openDB(t, store.SQLite)
	// Off the hour: the hourly prune would delete these runs, which the
	// local clock dates years before the fake clock's 2030.
	s := &clockScript{t: t, db: db, disp: &panicDispatcher{db: db}, clock: &fakeClock{now: year2030("10:01:00.5")}, until: year2030("10:04:30")}
	rec := s.run(Job(kindArgs{"Bad"}).Name("bad"), Func("fine", noop))
	require.Equal(t, minutes("10:01", "10:04", 1), rec.ran()["fine"], "the loop carried on")
	require.Equal(t, 4, rec.count("schedule: panic while running an event"))
	runs, err := s.r.Runs().List(context.Background(), "bad", 10)
	require.NoError(t, err)
	require.Len(t, runs, 4)
	for _, run := range runs {
		require.Equal(t, OutcomeFailed, run.Outcome)
		require.Contains(t, run.Error, "panic: dispatcher bug")
	}
}

func TestRunnerOnOneServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		ctx := context.Background()
		var runners []*Runner
		for i := range 3 {
			runners = append(runners, newRunner(t, db, &tableDispatcher{db: db}, fmt.Sprint("host", i), nil,
				Job(kindArgs{"One"}).EveryMinute().Name("one").OnOneServer(),
				Job(kindArgs{"Each"}).EveryMinute().Name("each"),
			))
		}
		tick := at(jakarta, "2026-11-27 10:05:00")
		for minute := range 3 {
			var wg sync.WaitGroup
			results := make([][]Result, len(runners))
			for i, r := range runners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = r.RunTick(ctx, tick.Add(time.Duration(minute)*time.Minute+time.Duration(i)*time.Second))
				}()
			}
			wg.Wait()
			var dispatched, other int
			for _, rs := range results {
				switch outcomes(rs)["one"] {
				case OutcomeDispatched:
					dispatched++
				case OutcomeOtherServer:
					other++
				}
			}
			require.Equal(t, 1, dispatched, "minute %d", minute)
			require.Equal(t, 2, other, "minute %d", minute)
			require.Equal(t, minute+1, countJobs(t, db, "One"))
			require.Equal(t, 3*(minute+1), countJobs(t, db, "Each"), "events without OnOneServer run everywhere")
		}
	})
}

func TestRunnerWithoutOverlapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		for _, tx := range []bool{false, true} {
			t.Run(fmt.Sprintf("tx=%v", tx), func(t *testing.T) {
				db, _ := openDB(t, d)
				ctx := context.Background()
				var disp Dispatcher = &tableDispatcher{db: db}
				if tx {
					disp = &txDispatcher{tableDispatcher{db: db}}
				}
				logs := &syncBuffer{}
				r := newRunner(t, db, disp, "h1", logs, Job(kindArgs{"Sweep"}).EveryMinute().Name("sweep").WithoutOverlapping())
				tick := at(jakarta, "2026-11-27 10:05:00")

				res := r.RunTick(ctx, tick)
				require.Equal(t, OutcomeDispatched, res[0].Outcome)
				st, found, err := NewLocker(db).Get(ctx, overlapKey("sweep"))
				require.NoError(t, err)
				require.True(t, found)
				require.Equal(t, jobOwner(res[0].JobID), st.Owner, "the lock names the job")
				require.WithinDuration(t, time.Now().Add(DefaultOverlapExpiry), st.ExpiresAt, time.Minute)

				// The job is still pending or running: the next ticks skip.
				for i := 1; i <= 2; i++ {
					res = r.RunTick(ctx, tick.Add(time.Duration(i)*time.Minute))
					require.Equal(t, OutcomeOverlapping, res[0].Outcome)
				}
				require.Equal(t, 1, countJobs(t, db, "Sweep"))
				require.Contains(t, logs.String(), "previous run has not finished")

				// The job finished (the engine deleted it): the lock is taken over.
				finishJobs(t, db, "Sweep")
				res = r.RunTick(ctx, tick.Add(3*time.Minute))
				require.Equal(t, OutcomeDispatched, res[0].Outcome)
				require.Equal(t, 1, countJobs(t, db, "Sweep"))

				runs, err := r.Runs().List(ctx, "sweep", 10)
				require.NoError(t, err)
				require.Len(t, runs, 4)
				require.Equal(t, OutcomeDispatched, runs[0].Outcome)
				require.Equal(t, OutcomeOverlapping, runs[1].Outcome)
			})
		}
	})
}

func TestRunnerOverlapLockFreedWhenDispatchFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		ctx := context.Background()
		disp := &txDispatcher{tableDispatcher{db: db, fail: errors.New("queue down")}}
		r := newRunner(t, db, disp, "h1", nil, Job(kindArgs{"Sweep"}).EveryMinute().Name("sweep").WithoutOverlapping())
		res := r.RunTick(ctx, time.Now())
		require.Equal(t, OutcomeFailed, res[0].Outcome)
		require.ErrorContains(t, res[0].Err, "queue down")
		_, found, err := NewLocker(db).Get(ctx, overlapKey("sweep"))
		require.NoError(t, err)
		require.False(t, found)

		disp.fail = nil
		res = r.RunTick(ctx, time.Now().Add(time.Minute))
		require.Equal(t, OutcomeDispatched, res[0].Outcome)
	})
}

func TestRunnerOverlapExpiresWithoutJobChecker(t *testing.T) {
	db, _ := openDB(t, store.SQLite)
	ctx := context.Background()
	s, err := New(jakarta, Job(kindArgs{"Sweep"}).Name("sweep").WithoutOverlapping(time.Hour))
	require.NoError(t, err)
	r, err := NewRunner(Config{Schedule: s, Dispatcher: &tableDispatcher{db: db}, DB: db, NoJobChecker: true})
	require.NoError(t, err)
	require.Equal(t, OutcomeDispatched, r.RunTick(ctx, time.Now())[0].Outcome)
	finishJobs(t, db, "Sweep")
	require.Equal(t, OutcomeOverlapping, r.RunTick(ctx, time.Now().Add(time.Minute))[0].Outcome, "no checker: only expiry frees the lock")
	expireLock(t, db, overlapKey("sweep"))
	require.Equal(t, OutcomeDispatched, r.RunTick(ctx, time.Now().Add(2*time.Minute))[0].Outcome)
}

func TestRunnerFuncWithoutOverlapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		ctx := context.Background()
		started, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		r := newRunner(t, db, nil, "h1", nil, Func("slow", func(context.Context) error {
			if calls.Add(1) == 1 {
				close(started)
				<-release
			}
			return nil
		}).WithoutOverlapping())
		done := make(chan Result)
		go func() { res, _ := r.RunNow(ctx, "slow"); done <- res }()
		<-started
		res, err := r.RunNow(ctx, "slow")
		require.NoError(t, err)
		require.Equal(t, OutcomeOverlapping, res.Outcome)
		close(release)
		require.Equal(t, OutcomeRan, (<-done).Outcome)
		res, err = r.RunNow(ctx, "slow")
		require.NoError(t, err)
		require.Equal(t, OutcomeRan, res.Outcome, "the lock is released when the function returns")
		_, err = r.RunNow(ctx, "missing")
		require.ErrorContains(t, err, "no event named")
	})
}

func TestRunNowIgnoresFrequencyAndOnOneServer(t *testing.T) {
	db, _ := openDB(t, store.SQLite)
	r := newRunner(t, db, &tableDispatcher{db: db}, "h1", nil, Job(kindArgs{"Daily"}).DailyAt("02:00").Name("daily").OnOneServer())
	for range 2 {
		res, err := r.RunNow(context.Background(), "daily")
		require.NoError(t, err)
		require.Equal(t, OutcomeDispatched, res.Outcome)
	}
	require.Equal(t, 2, countJobs(t, db, "Daily"))
}

func TestNewRunnerChecksDependencies(t *testing.T) {
	s, err := New(jakarta, Job(kindArgs{"A"}).OnOneServer())
	require.NoError(t, err)
	_, err = NewRunner(Config{Schedule: s, Dispatcher: &tableDispatcher{}})
	require.ErrorContains(t, err, "needs locks")
	_, err = NewRunner(Config{Schedule: s})
	require.ErrorContains(t, err, "no dispatcher")
}

// fakeClock is a clock that only moves when the runner sleeps. While
// fail is set, reading it fails, as the database clock does when the
// database cannot be reached.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	fail error
}

func (c *fakeClock) Now(context.Context) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return time.Time{}, c.fail
	}
	return c.now, nil
}

// get returns the clock's time even while reading it fails.
func (c *fakeClock) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) setFail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRunLoopTicksOnMinuteBoundaries(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start string
		first string
	}{
		{"started mid-minute waits for the next", "2026-11-27 10:00:30", "2026-11-27 10:01:00"},
		{"started on the boundary runs it", "2026-11-27 10:00:00", "2026-11-27 10:00:00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: at(jakarta, tt.start)}
			var mu sync.Mutex
			var ticks []time.Time
			s, err := New(jakarta, Func("tick", func(context.Context) error { return nil }))
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, err := NewRunner(Config{Schedule: s, Clock: clock})
			require.NoError(t, err)
			// The runner logs the tick of every run; collect them through
			// a Func that reads the clock instead.
			s.events[0].fn = func(context.Context) error {
				mu.Lock()
				ticks = append(ticks, Tick(clock.get()))
				n := len(ticks)
				mu.Unlock()
				if n == 4 {
					cancel()
				}
				return nil
			}
			var sleeps []time.Duration
			r.sleep = func(ctx context.Context, d time.Duration) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				sleeps = append(sleeps, d)
				// Let the tick's goroutine read the clock before moving it.
				time.Sleep(5 * time.Millisecond)
				clock.advance(d)
				return nil
			}
			require.NoError(t, r.Run(ctx))
			first := at(jakarta, tt.first)
			// The tick after the fourth may start before cancel is seen.
			require.GreaterOrEqual(t, len(ticks), 4)
			for i, tk := range ticks {
				require.True(t, first.Add(time.Duration(i)*time.Minute).Equal(tk), "tick %d: %s", i, tk)
			}
			for _, d := range sleeps {
				require.LessOrEqual(t, d, time.Minute+time.Second)
			}
		})
	}
}

func TestRunLoopStopsOnCancel(t *testing.T) {
	s, err := New(jakarta, Func("x", func(context.Context) error { return nil }))
	require.NoError(t, err)
	r, err := NewRunner(Config{Schedule: s})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestTickKey(t *testing.T) {
	require.Equal(t, "schedule:expire-unpaid-bookings:202611270305", tickKey("expire-unpaid-bookings", at(jakarta, "2026-11-27 10:05:00")))
	id, ok := parseJobOwner(jobOwner(42))
	require.True(t, ok)
	require.Equal(t, int64(42), id)
	_, ok = parseJobOwner("run:h:abc")
	require.False(t, ok)
	require.True(t, strings.HasPrefix(newToken("h"), "run:h:"))
}

func TestRunnerStartStop(t *testing.T) {
	s, err := New(jakarta, Func("x", func(context.Context) error { return nil }))
	require.NoError(t, err)
	r, err := NewRunner(Config{Schedule: s})
	require.NoError(t, err)
	require.NoError(t, r.Stop(context.Background()), "stop before start")
	require.NoError(t, r.Start(context.Background()))
	require.ErrorContains(t, r.Start(context.Background()), "already started")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, r.Stop(ctx))
}

func TestRunTickPrunesOnTheHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		ctx := context.Background()
		r := newRunner(t, db, &tableDispatcher{db: db}, "h1", nil, Job(kindArgs{"A"}).EveryMinute().Name("a").OnOneServer())
		old := at(jakarta, "2026-10-01 10:05:00")
		require.Equal(t, OutcomeDispatched, r.RunTick(ctx, old)[0].Outcome)
		expireLock(t, db, tickKey("a", old))
		_, err := db.Exec(db.Rebind("UPDATE schedule_runs SET started_at = ?"), old.Unix())
		require.NoError(t, err)

		// Not on the hour: nothing is pruned.
		r.RunTick(ctx, at(jakarta, "2026-11-27 10:59:00"))
		_, found, err := NewLocker(db).Get(ctx, tickKey("a", old))
		require.NoError(t, err)
		require.True(t, found)

		r.RunTick(ctx, at(jakarta, "2026-11-27 11:00:00"))
		_, found, err = NewLocker(db).Get(ctx, tickKey("a", old))
		require.NoError(t, err)
		require.False(t, found, "expired tick locks are pruned")
		_, found, err = NewLocker(db).Get(ctx, tickKey("a", at(jakarta, "2026-11-27 11:00:00")))
		require.NoError(t, err)
		require.True(t, found, "live tick locks stay")
		runs, err := r.Runs().List(ctx, "a", 10)
		require.NoError(t, err)
		require.Len(t, runs, 2, "the run from October is pruned")
	})
}

func TestDatabaseClock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db, _ := openDB(t, d)
		ctx := context.Background()
		now, err := DatabaseClock(db).Now(ctx)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), now, 5*time.Second)
		db.Close()
		now, err = DatabaseClock(db).Now(ctx)
		require.ErrorContains(t, err, "read the database clock", "an unreachable database is an error, never the local clock")
		require.True(t, now.IsZero())
	})
}
