package mail_test

import (
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/mail"
)

func TestFormatTimeWIB(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC), "Fri, 27 Nov 2026 13:30 WIB"},
		// 20:00 UTC is already the next day in Jakarta.
		{time.Date(2026, 12, 31, 20, 5, 0, 0, time.UTC), "Fri, 1 Jan 2027 03:05 WIB"},
		{time.Time{}, ""},
	} {
		if got := mail.FormatTime(tc.in, jakarta); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A date is printed as stored, never shifted by the zone.
	if got := mail.FormatDate(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)); got != "Tue, 15 Dec 2026" {
		t.Errorf("FormatDate = %q", got)
	}
}
