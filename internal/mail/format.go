package mail

import (
	"strconv"
	"time"
)

// FormatRupiah formats a whole-rupiah amount the Indonesian way, with dots
// between thousands and no decimals: 1500000 becomes "Rp1.500.000".
func FormatRupiah(amount int64) string {
	neg := amount < 0
	// Work on the unsigned magnitude so that math.MinInt64 formats too.
	u := uint64(amount)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	out := make([]byte, 0, len(digits)+len(digits)/3+3)
	if neg {
		out = append(out, '-')
	}
	out = append(out, "Rp"...)
	for i := 0; i < len(digits); i++ {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out = append(out, '.')
		}
		out = append(out, digits[i])
	}
	return string(out)
}

// FormatTime formats an instant in loc with the zone's abbreviation, for
// example "Wed, 2 Dec 2026 14:30 WIB" for Asia/Jakarta. The zero time
// formats as "".
func FormatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("Mon, 2 Jan 2006 15:04 MST")
}

// FormatDate formats a calendar date such as a tour's departure date. A
// date has no zone, so it is printed as stored, without conversion: a DATE
// column read as midnight UTC must not move to another day.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("Mon, 2 Jan 2006")
}
