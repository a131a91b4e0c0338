// Package progress reports a long task item by item: the tables of a
// copy, the migrations of a run, the chunks of a delete. On a terminal a
// Meter redraws one line in place with the item, done/total, the rate and
// the time left, and ends each item with a line of its own; elsewhere (a
// pipe, a log file, a test) it writes one line per item when the item
// ends, so that logs carry what happened without the redraws.
//
// Colour is used only on a terminal, and never when NO_COLOR is set to
// anything (https://no-color.org).
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// RedrawInterval is the shortest time between two redraws of the line on
// a terminal: faster than the eye needs, and slow enough that a million
// small batches do not turn into a million writes.
const RedrawInterval = 200 * time.Millisecond

// Uncounted, as the total of Start, marks an item that has no count, such
// as a migration: its lines give only its duration.
const Uncounted = -1

// ANSI sequences: clear the line from the cursor, and the colours used.
const (
	clearLine = "\r\x1b[K"
	bold      = "\x1b[1m"
	green     = "\x1b[32m"
	red       = "\x1b[31m"
	dim       = "\x1b[2m"
	reset     = "\x1b[0m"
)

// Meter reports one item at a time. Its methods are safe for concurrent
// use; an item is Started, Set as it advances, and Finished (or Failed).
type Meter struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	color bool
	now   func() time.Time
	unit  string

	item     string
	total    int64
	done     int64
	started  time.Time
	lastDraw time.Time
	active   bool
}

// New returns a Meter writing to w. tty selects the redrawn line of a
// terminal; color adds colour to it (ignored without tty). now is the
// clock; nil means time.Now. Counts are in rows until SetUnit says
// otherwise.
func New(w io.Writer, tty, color bool, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{w: w, tty: tty, color: color && tty, now: now, unit: "rows"}
}

// For returns a Meter writing to w, in the terminal mode when w is a
// terminal, with colour when it is one and NO_COLOR is not set.
func For(w io.Writer) *Meter {
	tty := IsTerminal(w)
	return New(w, tty, tty && !NoColor(), nil)
}

// Discard returns a Meter that writes nothing, for output meant for
// programs (--json).
func Discard() *Meter { return New(io.Discard, false, false, nil) }

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// NoColor reports whether the environment asks for no colour: NO_COLOR
// set to any non-empty value.
func NoColor() bool { return os.Getenv("NO_COLOR") != "" }

// SetUnit names what the counts count ("rows" by default).
func (m *Meter) SetUnit(unit string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unit = unit
}

// Start begins item, of total units (0 when unknown, Uncounted when the
// item has no count). An item still running is finished first.
func (m *Meter) Start(item string, total int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active {
		m.finish(m.done, nil)
	}
	m.item, m.total, m.done = item, total, 0
	m.started = m.now()
	m.active = true
	if m.tty {
		m.draw(m.started)
	}
}

// Set reports that done units of the current item are done. On a
// terminal the line is redrawn, at most once per RedrawInterval;
// elsewhere nothing is written until the item ends.
func (m *Meter) Set(done int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.active {
		return
	}
	m.done = done
	if !m.tty {
		return
	}
	if now := m.now(); now.Sub(m.lastDraw) >= RedrawInterval {
		m.draw(now)
	}
}

// Finish ends the current item with done units and writes its line.
func (m *Meter) Finish(done int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active {
		m.finish(done, nil)
	}
}

// Fail ends the current item with done units and err, and writes its
// line.
func (m *Meter) Fail(done int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active {
		m.finish(done, err)
	}
}

// Abort ends the current item without a line of its own, for an error
// that the caller reports: on a terminal the redrawn line is cleared.
func (m *Meter) Abort() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.active {
		return
	}
	m.active = false
	if m.tty {
		io.WriteString(m.w, clearLine)
	}
}

// Report writes the final line of an item timed by the caller (took):
// a table whose prune tells only when it is done, or a migration that
// times itself. It ends the running item of that name; another running
// item is finished first. A negative done means Uncounted.
func (m *Meter) Report(item string, done int64, took time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active && m.item != item {
		m.finish(m.done, nil)
	}
	m.active = false
	m.item, m.total = item, 0
	if done < 0 {
		m.total, done = Uncounted, 0
	}
	m.writeFinal(done, took, err)
}

// finish writes the item's final line: on a terminal over the redrawn
// one.
func (m *Meter) finish(done int64, err error) {
	m.done, m.active = done, false
	m.writeFinal(done, m.now().Sub(m.started), err)
}

func (m *Meter) writeFinal(done int64, took time.Duration, err error) {
	var b strings.Builder
	if m.tty {
		b.WriteString(clearLine)
	}
	nameColor := green
	if err != nil {
		nameColor = red
	}
	b.WriteString(m.paint(nameColor, m.item))
	b.WriteString("  ")
	if m.total != Uncounted {
		b.WriteString(FormatCount(done) + " " + m.unit + " ")
	}
	if err != nil {
		b.WriteString("failed after " + FormatSeconds(took) + ": " + oneLine(err.Error()))
	} else {
		if m.total == Uncounted {
			b.WriteString("done ")
		}
		b.WriteString("in " + FormatSeconds(took))
		if r, ok := Rate(done, took); ok && m.total != Uncounted {
			b.WriteString(m.paint(dim, " ("+FormatCount(int64(r+0.5))+" "+m.unit+"/s)"))
		}
	}
	b.WriteByte('\n')
	io.WriteString(m.w, b.String())
}

// draw redraws the line of the running item on a terminal.
func (m *Meter) draw(now time.Time) {
	m.lastDraw = now
	elapsed := now.Sub(m.started)
	var b strings.Builder
	b.WriteString(clearLine)
	b.WriteString(m.paint(bold, m.item))
	b.WriteString("  ")
	switch {
	case m.total == Uncounted:
		b.WriteString(FormatSeconds(elapsed))
	case m.total > 0:
		pct := float64(m.done) * 100 / float64(m.total)
		fmt.Fprintf(&b, "%s/%s %s (%.0f%%)", FormatCount(m.done), FormatCount(m.total), m.unit, pct)
	default:
		b.WriteString(FormatCount(m.done) + " " + m.unit)
	}
	if m.total != Uncounted {
		if r, ok := Rate(m.done, elapsed); ok {
			b.WriteString("  " + FormatCount(int64(r+0.5)) + " " + m.unit + "/s")
			if eta, ok := ETA(m.done, m.total, elapsed); ok {
				b.WriteString(m.paint(dim, "  ETA "+FormatETA(eta)))
			}
		}
	}
	io.WriteString(m.w, b.String())
}

func (m *Meter) paint(color, s string) string {
	if !m.color {
		return s
	}
	return color + s + reset
}

// Rate is done units over elapsed, per second; false when no time has
// passed or nothing is done yet.
func Rate(done int64, elapsed time.Duration) (float64, bool) {
	if elapsed <= 0 || done <= 0 {
		return 0, false
	}
	return float64(done) / elapsed.Seconds(), true
}

// ETA is the time left to do total units at the rate of done units in
// elapsed; false when it cannot be told (no total, no rate yet).
func ETA(done, total int64, elapsed time.Duration) (time.Duration, bool) {
	r, ok := Rate(done, elapsed)
	if !ok || total <= 0 {
		return 0, false
	}
	left := max(total-done, 0)
	return time.Duration(float64(left) / r * float64(time.Second)), true
}

// FormatCount writes n with thousands separators: 1,204.
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FormatSeconds writes a duration as seconds with two decimals ("0.41
// s") under a minute, and as minutes and seconds ("2m05s") from there.
func FormatSeconds(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return FormatETA(d)
}

// FormatETA writes a time left to the second: 9s, 2m05s, 1h02m.
func FormatETA(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
