// Package i18n holds the words customers read in their own language: the
// emails, the e-ticket page and the payment simulator page. Each locale is
// one embedded JSON file in locales/ (APP_LOCALE names it): its messages,
// by key, and its calendar (day and month names, date and time patterns).
// Code and templates refer to messages by key only; no text lives in code.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed locales/*.json
var localeFS embed.FS

// Default is the locale when APP_LOCALE is not set.
const Default = "en"

// Calendar is how a locale writes dates and times. The patterns use the
// placeholders {weekday} {wd} (short weekday), {day}, {month}, {mon}
// (short month), {year}, {hour} and {minute} (two digits each) and {zone}
// (the time zone's abbreviation, such as WIB); DateTime may also use
// {date}, the Date pattern's result.
type Calendar struct {
	Weekdays      []string `json:"weekdays"`       // Sunday first, as time.Weekday
	WeekdaysShort []string `json:"weekdays_short"` // Sunday first
	Months        []string `json:"months"`         // January first
	MonthsShort   []string `json:"months_short"`   // January first
	Date          string   `json:"date"`           // a calendar date in emails
	LongDate      string   `json:"long_date"`      // a calendar date on pages
	DateTime      string   `json:"datetime"`       // an instant
}

// Locale is one language: its messages and calendar.
type Locale struct {
	tag      string
	name     string
	messages map[string]string
	cal      Calendar
}

type localeFile struct {
	Name     string            `json:"name"`
	Calendar Calendar          `json:"calendar"`
	Messages map[string]string `json:"messages"`
}

// locales are the embedded locales by tag; tags are their tags, sorted.
var locales, tags = mustLoad()

// mustLoad reads every embedded locale file; a malformed one is a
// programming error that any test catches.
func mustLoad() (map[string]*Locale, []string) {
	locales := map[string]*Locale{}
	var tags []string
	entries, err := localeFS.ReadDir("locales")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		tag := strings.TrimSuffix(e.Name(), path.Ext(e.Name()))
		b, err := localeFS.ReadFile("locales/" + e.Name())
		if err != nil {
			panic(err)
		}
		var f localeFile
		if err := json.Unmarshal(b, &f); err != nil {
			panic(fmt.Sprintf("i18n: locales/%s: %v", e.Name(), err))
		}
		c := f.Calendar
		if len(c.Weekdays) != 7 || len(c.WeekdaysShort) != 7 || len(c.Months) != 12 || len(c.MonthsShort) != 12 ||
			c.Date == "" || c.LongDate == "" || c.DateTime == "" {
			panic(fmt.Sprintf("i18n: locales/%s: the calendar needs 7 weekdays, 12 months and the date, long_date and datetime patterns", e.Name()))
		}
		locales[tag] = &Locale{tag: tag, name: f.Name, messages: f.Messages, cal: c}
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	return locales, tags
}

// Tags lists the supported locales, sorted: the values APP_LOCALE takes.
func Tags() []string { return append([]string(nil), tags...) }

// Get returns the locale tag names, or an error that lists the supported
// ones.
func Get(tag string) (*Locale, error) {
	if l, ok := locales[tag]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("unknown locale %q: must be one of %s", tag, strings.Join(tags, ", "))
}

// MustGet is Get for a tag known to exist (one Get or config accepted).
func MustGet(tag string) *Locale {
	l, err := Get(tag)
	if err != nil {
		panic(err)
	}
	return l
}

// Tag is the locale's tag ("en", "id"), also the HTML lang attribute.
func (l *Locale) Tag() string { return l.tag }

// Name is the language's own name ("English", "Bahasa Indonesia").
func (l *Locale) Name() string { return l.name }

// Keys returns the message keys, sorted.
func (l *Locale) Keys() []string {
	keys := make([]string, 0, len(l.messages))
	for k := range l.messages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether the locale has a message for key.
func (l *Locale) Has(key string) bool {
	_, ok := l.messages[key]
	return ok
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// Placeholders returns the {name}s the message of key uses, sorted.
func (l *Locale) Placeholders(key string) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range placeholder.FindAllStringSubmatch(l.messages[key], -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	return names
}

// Translate returns the message of key with its {name} placeholders
// replaced by args, given as name, value pairs (values are printed with
// fmt.Sprint). An unknown key, an odd number of args or a placeholder
// without a value is an error, so that a template using one fails when
// it is first tried rather than printing half a sentence.
func (l *Locale) Translate(key string, args ...any) (string, error) {
	msg, ok := l.messages[key]
	if !ok {
		return "", fmt.Errorf("no message %q in locale %s", key, l.tag)
	}
	if len(args)%2 != 0 {
		return "", fmt.Errorf("message %q: arguments must be name, value pairs", key)
	}
	vals := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		name, ok := args[i].(string)
		if !ok {
			return "", fmt.Errorf("message %q: argument %d must be a placeholder name", key, i+1)
		}
		vals[name] = fmt.Sprint(args[i+1])
	}
	var missing string
	out := placeholder.ReplaceAllStringFunc(msg, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := vals[name]
		if !ok && missing == "" {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("message %q needs a value for {%s}", key, missing)
	}
	return out, nil
}

// T is Translate for callers that know the key exists (a test checks
// every key in every locale): on an error it returns the key itself.
func (l *Locale) T(key string, args ...any) string {
	s, err := l.Translate(key, args...)
	if err != nil {
		return key
	}
	return s
}

// Date writes a calendar date, such as a tour's departure, in the
// locale's Date pattern ("Tue, 15 Dec 2026"; "Selasa, 15 Desember 2026").
// A date has no zone: it is printed as stored, without conversion, so a
// DATE column read as midnight UTC does not move to another day. The zero
// time is "".
func (l *Locale) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return l.format(l.cal.Date, t)
}

// LongDate is Date in the LongDate pattern, for pages ("Tuesday, 15
// December 2026").
func (l *Locale) LongDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return l.format(l.cal.LongDate, t)
}

// DateTime writes an instant in loc (UTC when nil) in the locale's
// DateTime pattern, with the zone's abbreviation: "Wed, 2 Dec 2026 14:30
// WIB"; "Rabu, 2 Desember 2026 14.30 WIB". The zero time is "".
func (l *Locale) DateTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	s := strings.ReplaceAll(l.cal.DateTime, "{date}", l.format(l.cal.Date, t))
	return l.format(s, t)
}

func (l *Locale) format(pattern string, t time.Time) string {
	zone, _ := t.Zone()
	return strings.NewReplacer(
		"{weekday}", l.cal.Weekdays[t.Weekday()],
		"{wd}", l.cal.WeekdaysShort[t.Weekday()],
		"{day}", strconv.Itoa(t.Day()),
		"{month}", l.cal.Months[t.Month()-1],
		"{mon}", l.cal.MonthsShort[t.Month()-1],
		"{year}", strconv.Itoa(t.Year()),
		"{hour}", fmt.Sprintf("%02d", t.Hour()),
		"{minute}", fmt.Sprintf("%02d", t.Minute()),
		"{zone}", zone,
	).Replace(pattern)
}
