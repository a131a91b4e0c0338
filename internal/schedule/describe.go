package schedule

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// EventInfo describes an event for `schedule list` and the dashboard.
type EventInfo struct {
	Name               string    `json:"name"`
	Expression         string    `json:"expression"`
	Timezone           string    `json:"timezone"`
	NextDue            time.Time `json:"next_due"`
	WithoutOverlapping bool      `json:"without_overlapping"`
	OnOneServer        bool      `json:"on_one_server"`
	// OverlapExpirySeconds is the WithoutOverlapping lock's expiry.
	OverlapExpirySeconds int64 `json:"overlap_expiry_seconds,omitempty"`
	// Type is "job" (dispatched to the queue) or "func" (run inline).
	Type string `json:"type"`
	// Kind is the dispatched job's kind.
	Kind string `json:"kind,omitempty"`
}

// Describe returns every event as of now, in definition order; NextDue is
// in the event's time zone.
func (s *Schedule) Describe(now time.Time) []EventInfo {
	out := make([]EventInfo, 0, len(s.events))
	for _, e := range s.events {
		info := EventInfo{
			Name: e.name, Expression: e.expr, Timezone: e.loc.String(), NextDue: e.NextDue(now),
			WithoutOverlapping: e.overlap > 0, OnOneServer: e.oneSrv,
			OverlapExpirySeconds: int64(e.overlap / time.Second), Type: "func",
		}
		if e.IsJob() {
			info.Type, info.Kind = "job", e.args.Kind()
		}
		out = append(out, info)
	}
	return out
}

// WriteList writes events the way `schedule list` prints them, after
// Laravel's schedule:list:
//
//	*/5 * * * *  expire-unpaid-bookings .......... Next Due: 4 minutes from now  [mutex, one server]
func WriteList(w io.Writer, events []EventInfo, now time.Time) error {
	wExpr, wName := 0, 0
	for _, e := range events {
		wExpr, wName = max(wExpr, len(e.Expression)), max(wName, len(e.Name))
	}
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Expression)
		b.WriteString(strings.Repeat(" ", wExpr-len(e.Expression)+2))
		b.WriteString(e.Name)
		b.WriteByte(' ')
		b.WriteString(strings.Repeat(".", wName-len(e.Name)+10))
		b.WriteString(" Next Due: ")
		b.WriteString(humanizeUntil(e.NextDue.Sub(now)))
		var flags []string
		if e.WithoutOverlapping {
			flags = append(flags, "mutex")
		}
		if e.OnOneServer {
			flags = append(flags, "one server")
		}
		if len(flags) > 0 {
			b.WriteString("  [" + strings.Join(flags, ", ") + "]")
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("schedule: write list: %w", err)
	}
	return nil
}

// humanizeUntil says how far away d is: minutes rounded up (a tick 30
// seconds away is "1 minute from now"), hours and days rounded down.
func humanizeUntil(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit + " from now"
		}
		return fmt.Sprintf("%d %ss from now", n, unit)
	}
	mins := int64((d + time.Minute - 1) / time.Minute)
	switch {
	case d <= 0:
		return "now"
	case mins < 60:
		return plural(mins, "minute")
	case d < 24*time.Hour:
		return plural(max(int64(d/time.Hour), 1), "hour")
	default:
		return plural(int64(d/(24*time.Hour)), "day")
	}
}
