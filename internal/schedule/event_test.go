package schedule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type testArgs struct{ N int }

func (testArgs) Kind() string { return "TestJob" }

var (
	jakarta = mustLoad("Asia/Jakarta")
	utc     = time.UTC
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func at(loc *time.Location, s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func TestEventDue(t *testing.T) {
	tests := []struct {
		name  string
		event *Event
		now   time.Time
		want  bool
	}{
		{"every minute", Job(testArgs{}).EveryMinute(), at(jakarta, "2026-11-27 10:03:41"), true},
		{"five minutes on the boundary", Job(testArgs{}).EveryFiveMinutes(), at(jakarta, "2026-11-27 10:05:00"), true},
		{"five minutes late in the tick", Job(testArgs{}).EveryFiveMinutes(), at(jakarta, "2026-11-27 10:05:59"), true},
		{"five minutes off the boundary", Job(testArgs{}).EveryFiveMinutes(), at(jakarta, "2026-11-27 10:06:00"), false},
		{"hourly", Job(testArgs{}).Hourly(), at(jakarta, "2026-11-27 11:00:30"), true},
		{"hourly off", Job(testArgs{}).Hourly(), at(jakarta, "2026-11-27 11:01:00"), false},
		// 02:00 in Jakarta (UTC+7) is 19:00 UTC the day before.
		{"daily at in APP_TIMEZONE", Job(testArgs{}).DailyAt("02:00"), at(utc, "2026-11-26 19:00:10"), true},
		{"daily at is not UTC", Job(testArgs{}).DailyAt("02:00"), at(utc, "2026-11-27 02:00:00"), false},
		{"daily at single-digit hour", Job(testArgs{}).DailyAt("9:30"), at(jakarta, "2026-11-27 09:30:00"), true},
		{"cron in APP_TIMEZONE", Job(testArgs{}).Cron("0 9 * * 1-5"), at(jakarta, "2026-11-27 09:00:00"), true}, // a Friday
		{"cron weekend", Job(testArgs{}).Cron("0 9 * * 1-5"), at(jakarta, "2026-11-28 09:00:00"), false},
		{"event time zone UTC", Job(testArgs{}).Cron("0 9 * * *").Timezone(utc), at(utc, "2026-11-27 09:00:00"), true},
		{"event time zone UTC is not Jakarta", Job(testArgs{}).Cron("0 9 * * *").Timezone(utc), at(jakarta, "2026-11-27 09:00:00"), false},
		{"CRON_TZ prefix", Job(testArgs{}).Cron("CRON_TZ=UTC 0 9 * * *"), at(utc, "2026-11-27 09:00:00"), true},
		{"descriptor", Job(testArgs{}).Cron("@daily"), at(jakarta, "2026-11-27 00:00:00"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(jakarta, tt.event)
			require.NoError(t, err)
			require.Equal(t, tt.want, tt.event.Due(tt.now))
			require.Equal(t, tt.want, len(s.Due(tt.now)) == 1)
		})
	}
}

func TestEventNextDue(t *testing.T) {
	tests := []struct {
		name  string
		event *Event
		now   time.Time
		want  time.Time
	}{
		{"five minutes", Job(testArgs{}).EveryFiveMinutes(), at(jakarta, "2026-11-27 10:01:30"), at(jakarta, "2026-11-27 10:05:00")},
		{"five minutes on a due tick is the next one", Job(testArgs{}).EveryFiveMinutes(), at(jakarta, "2026-11-27 10:05:00"), at(jakarta, "2026-11-27 10:10:00")},
		{"daily at tomorrow", Job(testArgs{}).DailyAt("02:00"), at(jakarta, "2026-11-27 03:00:00"), at(jakarta, "2026-11-28 02:00:00")},
		{"daily at from UTC", Job(testArgs{}).DailyAt("02:00"), at(utc, "2026-11-26 18:59:00"), at(utc, "2026-11-26 19:00:00")},
		{"hourly across midnight", Job(testArgs{}).Hourly(), at(jakarta, "2026-11-27 23:59:59"), at(jakarta, "2026-11-28 00:00:00")},
		{"utc event", Job(testArgs{}).DailyAt("00:00").Timezone(utc), at(jakarta, "2026-11-27 06:00:00"), at(jakarta, "2026-11-27 07:00:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(jakarta, tt.event)
			require.NoError(t, err)
			got := tt.event.NextDue(tt.now)
			require.True(t, tt.want.Equal(got), "want %s, got %s", tt.want, got)
			require.Equal(t, tt.event.Location(), got.Location())
		})
	}
}

func TestScheduleNextDue(t *testing.T) {
	s, err := New(jakarta,
		Job(testArgs{}).Hourly().Name("a"),
		Job(testArgs{}).EveryFiveMinutes().Name("b"),
	)
	require.NoError(t, err)
	next, ok := s.NextDue(at(jakarta, "2026-11-27 10:56:00"))
	require.True(t, ok)
	require.True(t, next.Equal(at(jakarta, "2026-11-27 11:00:00")))
	_, ok = (&Schedule{loc: jakarta}).NextDue(time.Now())
	require.False(t, ok)
}

func TestNewRejectsBadEvents(t *testing.T) {
	tests := []struct {
		name   string
		events []*Event
		want   string
	}{
		{"bad clock", []*Event{Job(testArgs{}).DailyAt("25:00")}, "DailyAt"},
		{"bad minutes", []*Event{Job(testArgs{}).DailyAt("02:5")}, "DailyAt"},
		{"bad cron", []*Event{Job(testArgs{}).Cron("*/5 * *")}, "cron expression"},
		{"every", []*Event{Job(testArgs{}).Cron("@every 5m")}, "not supported"},
		{"duplicate", []*Event{Job(testArgs{}), Job(testArgs{})}, "two events"},
		{"no name", []*Event{Func("", func(context.Context) error { return nil })}, "no name"},
		{"nil func", []*Event{Func("x", nil)}, "nil function"},
		{"short overlap", []*Event{Job(testArgs{}).WithoutOverlapping(time.Second)}, "under a minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(jakarta, tt.events...)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestEventDefaults(t *testing.T) {
	e := Job(testArgs{})
	s, err := New(jakarta, e, Job(testArgs{}).Name("other").WithoutOverlapping().OnOneServer())
	require.NoError(t, err)
	require.Equal(t, "TestJob", e.EventName())
	require.Equal(t, "* * * * *", e.Expression())
	require.Equal(t, time.Duration(0), e.OverlapExpiry())
	require.False(t, e.OneServer())
	o, ok := s.Event("other")
	require.True(t, ok)
	require.Equal(t, DefaultOverlapExpiry, o.OverlapExpiry())
	require.True(t, o.OneServer())
}

func TestDescribe(t *testing.T) {
	s, err := New(jakarta,
		Job(testArgs{}).EveryFiveMinutes().Name("expire-unpaid-bookings").WithoutOverlapping().OnOneServer(),
		Func("report", func(context.Context) error { return nil }).DailyAt("02:00").Timezone(utc),
	)
	require.NoError(t, err)
	now := at(jakarta, "2026-11-27 10:01:00")
	b, err := json.Marshal(s.Describe(now))
	require.NoError(t, err)
	require.JSONEq(t, `[
	 {"name":"expire-unpaid-bookings","expression":"*/5 * * * *","timezone":"Asia/Jakarta",
	  "next_due":"2026-11-27T10:05:00+07:00","without_overlapping":true,"on_one_server":true,
	  "overlap_expiry_seconds":86400,"type":"job","kind":"TestJob"},
	 {"name":"report","expression":"0 2 * * *","timezone":"UTC",
	  "next_due":"2026-11-28T02:00:00Z","without_overlapping":false,"on_one_server":false,
	  "type":"func"}
	]`, string(b))

	var text strings.Builder
	require.NoError(t, WriteList(&text, s.Describe(now), now))
	require.Equal(t, ""+
		"*/5 * * * *  expire-unpaid-bookings .......... Next Due: 4 minutes from now  [mutex, one server]\n"+
		"0 2 * * *    report .......................... Next Due: 22 hours from now\n", text.String())
}

func TestHumanizeUntil(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "1 minute from now"},
		{time.Minute, "1 minute from now"},
		{4 * time.Minute, "4 minutes from now"},
		{59 * time.Minute, "59 minutes from now"},
		{time.Hour, "1 hour from now"},
		{22 * time.Hour, "22 hours from now"},
		{49 * time.Hour, "2 days from now"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, humanizeUntil(tt.d), tt.d.String())
	}
}
