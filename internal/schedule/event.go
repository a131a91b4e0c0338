// Package schedule is Tripin's cron-like scheduler: events defined fluently
// in code (schedule.Job(args).EveryFiveMinutes().Name(...)), evaluated in
// APP_TIMEZONE, dispatched to the queue or run inline once per minute by
// `tripin schedule run` (from cron) or `tripin schedule work` (a loop that
// serve embeds). Locks in the cache_locks table let any number of scheduler
// processes share one database: OnOneServer makes exactly one of them
// dispatch an event per tick, and WithoutOverlapping holds an event back
// while the job it dispatched last is still pending or running.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tripintravel/tripin/queue"
)

// DefaultOverlapExpiry is how long a WithoutOverlapping lock is held at most
// when the job it guards never reports back (Laravel's default too).
const DefaultOverlapExpiry = 24 * time.Hour

// cronParser accepts the classic five fields plus descriptors such as
// @hourly; seconds are not supported because the scheduler ticks once a
// minute.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Event is one scheduled task: a job to dispatch to the queue or a function
// to run inline, with its frequency and its locking rules. Events are built
// with Job or Func and the chainable methods below; a mistake in a chain
// (a bad time or cron expression) is reported by New.
type Event struct {
	name    string
	expr    string
	sched   cron.Schedule
	loc     *time.Location
	args    queue.JobArgs
	opts    *queue.InsertOpts
	fn      func(ctx context.Context) error
	overlap time.Duration // 0: overlapping allowed
	oneSrv  bool
	err     error
}

// Job returns an event that dispatches args to the queue. Its name defaults
// to args.Kind(); it runs every minute until a frequency is set.
func Job(args queue.JobArgs) *Event {
	e := &Event{args: args}
	if args != nil {
		e.name = args.Kind()
	} else {
		e.err = errors.New("schedule: Job with nil args")
	}
	return e.EveryMinute()
}

// Func returns an event that runs fn inline in the scheduler process. It
// runs every minute until a frequency is set.
func Func(name string, fn func(ctx context.Context) error) *Event {
	e := &Event{name: name, fn: fn}
	if fn == nil {
		e.err = fmt.Errorf("schedule: Func %q with nil function", name)
	}
	return e.EveryMinute()
}

// Cron sets the frequency from a five-field cron expression ("*/5 * * * *")
// or a descriptor ("@hourly"), read in the schedule's time zone.
func (e *Event) Cron(expr string) *Event {
	if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
		// A constant delay has no ticks to be due on; spell it as a cron.
		e.setErr(fmt.Errorf("schedule: %s: %q is not supported, use a cron expression", e.name, expr))
		return e
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		e.setErr(fmt.Errorf("schedule: %s: cron expression %q: %w", e.name, expr, err))
		return e
	}
	e.expr, e.sched = expr, s
	return e
}

// EveryMinute runs the event on every tick.
func (e *Event) EveryMinute() *Event { return e.Cron("* * * * *") }

// EveryFiveMinutes runs the event at minutes 0, 5, 10, … of every hour.
func (e *Event) EveryFiveMinutes() *Event { return e.Cron("*/5 * * * *") }

// EveryTenMinutes runs the event at minutes 0, 10, 20, … of every hour.
func (e *Event) EveryTenMinutes() *Event { return e.Cron("*/10 * * * *") }

// Hourly runs the event at the start of every hour.
func (e *Event) Hourly() *Event { return e.Cron("0 * * * *") }

// Daily runs the event at midnight.
func (e *Event) Daily() *Event { return e.Cron("0 0 * * *") }

// DailyAt runs the event once a day at hh:mm ("02:00", "9:30").
func (e *Event) DailyAt(hhmm string) *Event {
	h, m, ok := parseClock(hhmm)
	if !ok {
		e.setErr(fmt.Errorf("schedule: %s: DailyAt(%q): want HH:MM", e.name, hhmm))
		return e
	}
	return e.Cron(fmt.Sprintf("%d %d * * *", m, h))
}

func parseClock(s string) (h, m int, ok bool) {
	hs, ms, found := strings.Cut(s, ":")
	if !found || len(ms) != 2 {
		return 0, 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// Name names the event. Names identify events in logs, locks, `schedule
// test --name` and the dashboard, so they must be unique in a schedule.
func (e *Event) Name(name string) *Event {
	e.name = name
	return e
}

// Timezone evaluates this event's frequency in loc instead of the
// schedule's time zone.
func (e *Event) Timezone(loc *time.Location) *Event {
	if loc == nil {
		e.setErr(fmt.Errorf("schedule: %s: nil time zone", e.name))
	}
	e.loc = loc
	return e
}

// InsertOpts overrides the queue options the event's job is dispatched with
// (its kind's defaults apply otherwise).
func (e *Event) InsertOpts(opts queue.InsertOpts) *Event {
	e.opts = &opts
	return e
}

// WithoutOverlapping skips the event while the job it dispatched last is
// still pending or running (or, for a Func, while the function runs). The
// lock expires after expiry (DefaultOverlapExpiry when omitted) in case the
// job's end is never observed.
func (e *Event) WithoutOverlapping(expiry ...time.Duration) *Event {
	e.overlap = DefaultOverlapExpiry
	if len(expiry) > 0 {
		if expiry[0] < time.Minute {
			e.setErr(fmt.Errorf("schedule: %s: WithoutOverlapping expiry %s is under a minute", e.name, expiry[0]))
			return e
		}
		e.overlap = expiry[0]
	}
	return e
}

// OnOneServer lets only one of the scheduler processes sharing the database
// run the event on a given tick.
func (e *Event) OnOneServer() *Event {
	e.oneSrv = true
	return e
}

func (e *Event) setErr(err error) {
	if e.err == nil {
		e.err = err
	}
}

// EventName returns the event's name.
func (e *Event) EventName() string { return e.name }

// Expression returns the event's cron expression.
func (e *Event) Expression() string { return e.expr }

// Location returns the time zone the event's frequency is read in.
func (e *Event) Location() *time.Location { return e.loc }

// IsJob reports whether the event dispatches a job (rather than running a
// function inline).
func (e *Event) IsJob() bool { return e.args != nil }

// Args returns the job the event dispatches, or nil for a Func event.
func (e *Event) Args() queue.JobArgs { return e.args }

// OverlapExpiry returns the WithoutOverlapping lock expiry, or 0 when the
// event may overlap.
func (e *Event) OverlapExpiry() time.Duration { return e.overlap }

// OneServer reports whether OnOneServer was set.
func (e *Event) OneServer() bool { return e.oneSrv }

// Due reports whether the event runs on the tick (the minute) containing
// now.
func (e *Event) Due(now time.Time) bool {
	tick := Tick(now).In(e.loc)
	return e.sched.Next(tick.Add(-time.Second)).Equal(tick)
}

// NextDue returns the first tick strictly after now on which the event
// runs, in the event's time zone.
func (e *Event) NextDue(now time.Time) time.Time {
	return e.sched.Next(now.In(e.loc))
}

// Tick returns the scheduler tick now belongs to: the start of its minute.
// Every time zone in use today is offset from UTC by whole minutes, so the
// tick is the same instant wherever it is computed.
func Tick(now time.Time) time.Time { return now.Truncate(time.Minute) }

// Schedule is a validated set of events sharing a default time zone.
type Schedule struct {
	loc    *time.Location
	events []*Event
}

// New validates events and returns them as a schedule whose frequencies are
// read in loc (APP_TIMEZONE) unless an event sets its own time zone.
func New(loc *time.Location, events ...*Event) (*Schedule, error) {
	if loc == nil {
		return nil, errors.New("schedule: nil time zone")
	}
	s := &Schedule{loc: loc}
	seen := map[string]bool{}
	var errs []error
	for _, e := range events {
		if e.err != nil {
			errs = append(errs, e.err)
			continue
		}
		switch {
		case strings.TrimSpace(e.name) == "":
			errs = append(errs, fmt.Errorf("schedule: event with cron %q has no name", e.expr))
			continue
		case len(e.name) > 150:
			errs = append(errs, fmt.Errorf("schedule: event name %q is longer than 150 bytes", e.name))
			continue
		case seen[e.name]:
			errs = append(errs, fmt.Errorf("schedule: two events are named %q", e.name))
			continue
		}
		seen[e.name] = true
		if e.loc == nil {
			e.loc = loc
		}
		s.events = append(s.events, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Location returns the schedule's default time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Events returns the events in definition order.
func (s *Schedule) Events() []*Event { return append([]*Event(nil), s.events...) }

// Event returns the event named name.
func (s *Schedule) Event(name string) (*Event, bool) {
	for _, e := range s.events {
		if e.name == name {
			return e, true
		}
	}
	return nil, false
}

// Due returns the events that run on the tick containing now, in definition
// order.
func (s *Schedule) Due(now time.Time) []*Event {
	var out []*Event
	for _, e := range s.events {
		if e.Due(now) {
			out = append(out, e)
		}
	}
	return out
}

// NextDue returns the earliest tick after now on which any event runs, and
// false when the schedule is empty.
func (s *Schedule) NextDue(now time.Time) (time.Time, bool) {
	var best time.Time
	for _, e := range s.events {
		if n := e.NextDue(now); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best = n
		}
	}
	return best, !best.IsZero()
}
