package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/money"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
)

// funcs are the helpers the templates format values with.
var funcs = template.FuncMap{
	// attempts is the data of the "attempts" partial.
	"attempts":   func(now time.Time, log []driver.AttemptError) attemptsView { return attemptsView{now, log} },
	"ago":        ago,
	"until":      until,
	"when":       when,
	"dur":        humanDuration,
	"ms":         func(ms int64) string { return humanDuration(time.Duration(ms) * time.Millisecond) },
	"num":        func(n int) string { return thousands(int64(n)) },
	"jobs":       jobCount,
	"rupiah":     money.FormatRupiah,
	"short":      func(s string, n int) string { return truncate(s, n) },
	"join":       strings.Join,
	"fixed1":     func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"nonzero":    func(n int) bool { return n != 0 },
	"pathEscape": url.PathEscape,
	"dict2": func(rows []*store.DashboardBooking, now time.Time) bookingTable {
		return bookingTable{Rows: rows, Now: now, Prefix: Prefix}
	},
}

// bookingTable is what the bookings page's table template receives.
type bookingTable struct {
	Rows   []*store.DashboardBooking
	Now    time.Time
	Prefix string
}

// when formats t in the time zone of now (the dashboard's APP_TIMEZONE).
func when(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(now.Location()).Format("2006-01-02 15:04:05")
}

// ago says how long before now t was, coarsely ("3 min ago").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 5*time.Second {
		return "just now"
	}
	return coarse(d) + " ago"
}

// until says how long after now t is ("in 4 min").
func until(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(now)
	if d <= 0 {
		return "now"
	}
	return "in " + coarse(d)
}

func coarse(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(math.Ceil(d.Minutes()-0.0001))) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
}

// humanDuration writes a duration for people: "850 ms", "12.4 s",
// "3 min 05 s", "2 h 10 min".
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0 s"
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%d min %02d s", int(d/time.Minute), int(d%time.Minute/time.Second))
	default:
		return fmt.Sprintf("%d h %02d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
}

// thousands writes an integer with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// firstLine is the first line of an error chain, shortened for a table.
func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(s, n)
}

// mask replaces a secret's value in what the dashboard shows.
const mask = "********"

// secretWords mark a JSON key as holding a secret when its lower-cased
// name, without separators, contains one of them. The list errs on the
// side of hiding: a masked harmless value costs less than a shown secret.
var secretWords = []string{
	"password", "passwd", "secret", "token", "key", "authorization", "auth", "card", "cvv", "credential",
	"signature", "cookie", "session",
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	k = strings.NewReplacer("_", "", "-", "", ".", "", " ", "").Replace(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// maskedPayload pretty-prints a job payload with its secrets masked: at
// any depth, the whole value of a key that looks like a secret is
// replaced, even an object. Keys keep their stored order, so the payload
// reads as it was written. A payload that is not JSON is not shown at
// all, because its secrets could not be found.
func maskedPayload(payload []byte) string {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // keep big ids and amounts exact
	var b bytes.Buffer
	err := writeMasked(dec, &b, "")
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err != nil {
		return fmt.Sprintf("(the payload is not valid JSON; its %d bytes are not shown)", len(payload))
	}
	return b.String()
}

// writeMasked copies the next JSON value from dec to b, indented, with
// secrets masked.
func writeMasked(dec *json.Decoder, b *bytes.Buffer, indent string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t != '{' && t != '[' {
			return fmt.Errorf("unexpected %v", t)
		}
		closing := byte('}')
		if t == '[' {
			closing = ']'
		}
		b.WriteByte(byte(t))
		inner := indent + "  "
		n := 0
		for ; dec.More(); n++ {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n" + inner)
			if t == '[' {
				if err := writeMasked(dec, b, inner); err != nil {
					return err
				}
				continue
			}
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, ok := kt.(string)
			if !ok {
				return errors.New("object key is not a string")
			}
			writeString(b, key)
			b.WriteString(": ")
			if !isSecretKey(key) {
				if err := writeMasked(dec, b, inner); err != nil {
					return err
				}
				continue
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			if string(raw) == "null" {
				b.WriteString("null")
			} else {
				writeString(b, mask)
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
		if n > 0 {
			b.WriteString("\n" + indent)
		}
		b.WriteByte(closing)
	case string:
		writeString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// writeString writes s as a JSON string without escaping <, > and &: the
// template escapes the page, and \u003c would only hurt reading.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartW    = 720
	chartH    = 200
	chartLeft = 44
	chartTop  = 10
	chartBot  = 24
)

// throughputChart draws jobs per minute over the last hour as stacked
// bars: processed below, failed on top.
func throughputChart(buckets []bucket, loc *time.Location) template.HTML {
	top := 0
	for _, b := range buckets {
		top = max(top, b.processed+b.failed)
	}
	return barChart("Jobs per minute, last hour", buckets, float64(top), func(v float64) string {
		return strconv.Itoa(int(v))
	}, func(b bucket) []barPart {
		tip := fmt.Sprintf("%s — %d processed, %d failed", b.minute.In(loc).Format("15:04"), b.processed, b.failed)
		return []barPart{{float64(b.processed), "bar-ok", tip}, {float64(b.failed), "bar-fail", tip}}
	}, loc)
}

// runtimeChart draws the average runtime per job of each minute.
func runtimeChart(buckets []bucket, loc *time.Location) template.HTML {
	avg := func(b bucket) float64 {
		if n := b.processed + b.failed; n > 0 {
			return float64(b.runtimeMS) / float64(n)
		}
		return 0
	}
	top := 0.0
	for _, b := range buckets {
		top = math.Max(top, avg(b))
	}
	return barChart("Average runtime per job, last hour", buckets, top, func(v float64) string {
		return humanDuration(time.Duration(v * float64(time.Millisecond)))
	}, func(b bucket) []barPart {
		tip := fmt.Sprintf("%s — %s average over %d jobs", b.minute.In(loc).Format("15:04"),
			humanDuration(time.Duration(avg(b)*float64(time.Millisecond))), b.processed+b.failed)
		return []barPart{{avg(b), "bar-time", tip}}
	}, loc)
}

// barPart is one segment of a stacked bar.
type barPart struct {
	value float64
	class string
	title string
}

// barChart renders an SVG bar chart of the overview's last hour.
func barChart(label string, buckets []bucket, top float64, format func(float64) string,
	parts func(bucket) []barPart, loc *time.Location) template.HTML {
	c := chartSpec{label: label, empty: "No jobs ran in the last hour", slots: len(buckets), top: top, format: format,
		parts: func(i int) []barPart { return parts(buckets[i]) }}
	if n := len(buckets); n > 0 {
		c.first, c.last = buckets[0].minute.In(loc).Format("15:04"), buckets[n-1].minute.In(loc).Format("15:04")
	}
	return drawChart(c)
}

// chartSpec is a bar chart: one bar per slot, made of parts.
type chartSpec struct {
	label string
	// empty is written across a chart whose top is zero.
	empty string
	slots int
	// first and last label the x axis's ends.
	first, last string
	top         float64
	format      func(float64) string
	parts       func(slot int) []barPart
	// overlay draws a slot's parts from the axis each, the first behind
	// (give the largest first), instead of stacking them.
	overlay bool
}

// drawChart renders an SVG bar chart. Every string it writes is either
// fixed, a number, or escaped, so the result is safe as template.HTML.
func drawChart(c chartSpec) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" preserveAspectRatio="none">`,
		chartW, chartH, html.EscapeString(c.label))
	plotW, plotH := float64(chartW-chartLeft-4), float64(chartH-chartTop-chartBot)
	ceil := niceCeil(c.top)
	for i := 0; i <= 2; i++ {
		v := ceil * float64(i) / 2
		y := float64(chartTop) + plotH - plotH*float64(i)/2
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-4, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, y+4, html.EscapeString(c.format(v)))
	}
	if n := c.slots; n > 0 {
		slot := plotW / float64(n)
		barW := math.Max(slot-2, 1)
		if n > 100 {
			barW = math.Max(slot-0.5, 0.5)
		}
		for i := range n {
			x := float64(chartLeft) + float64(i)*slot + (slot-barW)/2
			base := float64(chartTop) + plotH
			for _, p := range c.parts(i) {
				if p.value <= 0 || ceil <= 0 {
					continue
				}
				h := math.Max(plotH*p.value/ceil, 1)
				y := base - h
				if !c.overlay {
					base = y
				}
				fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
					p.class, x, y, barW, h, html.EscapeString(p.title))
			}
		}
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, chartLeft, chartH-6, html.EscapeString(c.first))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, chartW-4, chartH-6, html.EscapeString(c.last))
	}
	if c.top <= 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d" text-anchor="middle">%s</text>`,
			chartLeft+int(plotW/2), chartTop+int(plotH/2), html.EscapeString(c.empty))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers, fixed text and escaped strings only
}

// niceCeil rounds a chart's maximum up to 1, 2 or 5 times a power of ten,
// so the axis reads well.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// attemptsView is what the "attempts" partial shows: a job's error log,
// with the page's clock for its times.
type attemptsView struct {
	Now      time.Time
	Attempts []driver.AttemptError
}
