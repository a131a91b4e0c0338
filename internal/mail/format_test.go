package mail_test

import (
	"math"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/mail"
)

func TestFormatRupiah(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "Rp0"},
		{7, "Rp7"},
		{999, "Rp999"},
		{1000, "Rp1.000"},
		{15000, "Rp15.000"},
		{150000, "Rp150.000"},
		{1500000, "Rp1.500.000"},
		{12345678, "Rp12.345.678"},
		{1000000000, "Rp1.000.000.000"},
		{-2500, "-Rp2.500"},
		{math.MaxInt64, "Rp9.223.372.036.854.775.807"},
		{math.MinInt64, "-Rp9.223.372.036.854.775.808"},
	} {
		if got := mail.FormatRupiah(tc.in); got != tc.want {
			t.Errorf("FormatRupiah(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

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
