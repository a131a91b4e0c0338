package mail

import "time"

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
