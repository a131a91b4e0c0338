package notify

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/money"
)

// How much of each group a message lists before it counts the rest: a
// message is read at a glance, and the dashboard has the full lists.
const (
	maxFailedGroups = 8
	maxErrorSamples = 3
	maxLateListed   = 10
	maxErrorSample  = 160
)

// failedGroup is the failures of one job kind on one queue.
type failedGroup struct {
	job, queue string
	count      int
	lastError  string
}

// summary is what one message says about a list of events.
type summary struct {
	since   time.Time
	total   int
	failed  []*failedGroup
	nFailed int
	late    []LatePayment
	waits   []LongWait
	busy    []QueueBusy
	other   []string
	// rest is the number of unsent events left for the next message.
	rest int
}

// summarise groups events by kind: failures by job and queue (most
// frequent first), one line per queue for waits and sizes (the latest
// reading), every late payment.
func summarise(events []Stored, rest int) *summary {
	s := &summary{total: len(events), rest: rest}
	groups := map[string]*failedGroup{}
	waits := map[string]int{}
	busy := map[string]int{}
	for _, e := range events {
		if s.since.IsZero() || e.CreatedAt.Before(s.since) {
			s.since = e.CreatedAt
		}
		switch e.Kind {
		case KindJobFailed:
			var f JobFailure
			if json.Unmarshal(e.Details, &f) != nil || f.Job == "" {
				break
			}
			k := f.Job + "\x00" + f.Queue
			g := groups[k]
			if g == nil {
				g = &failedGroup{job: f.Job, queue: f.Queue}
				groups[k] = g
				s.failed = append(s.failed, g)
			}
			g.count++
			s.nFailed++
			if f.Error != "" {
				g.lastError = f.Error
			}
			continue
		case KindLatePayment:
			var p LatePayment
			if json.Unmarshal(e.Details, &p) == nil && p.Code != "" {
				s.late = append(s.late, p)
				continue
			}
		case KindLongWait:
			var w LongWait
			if json.Unmarshal(e.Details, &w) == nil && w.Queue != "" {
				if i, ok := waits[w.Queue]; ok {
					s.waits[i] = w
				} else {
					waits[w.Queue] = len(s.waits)
					s.waits = append(s.waits, w)
				}
				continue
			}
		case KindQueueBusy:
			var b QueueBusy
			if json.Unmarshal(e.Details, &b) == nil && b.Queue != "" {
				if i, ok := busy[b.Queue]; ok {
					s.busy[i] = b
				} else {
					busy[b.Queue] = len(s.busy)
					s.busy = append(s.busy, b)
				}
				continue
			}
		}
		// An event the summary cannot group (a kind from a newer
		// version, details it cannot read) is shown by its own line.
		s.other = append(s.other, e.Body)
	}
	sort.SliceStable(s.failed, func(i, j int) bool { return s.failed[i].count > s.failed[j].count })
	return s
}

// render writes s in ch's markup, within ch's length limit.
func (n *Notifier) render(ch *channel, s *summary) string {
	esc := func(v string) string { return ch.escape(n.scrub(v)) }
	var counts []string
	if s.nFailed > 0 {
		counts = append(counts, plural(s.nFailed, "job", "jobs")+" failed for good")
	}
	if len(s.late) > 0 {
		counts = append(counts, plural(len(s.late), "late payment", "late payments")+" to refund")
	}
	if len(s.waits) > 0 {
		counts = append(counts, plural(len(s.waits), "queue", "queues")+" waiting too long")
	}
	if len(s.busy) > 0 {
		counts = append(counts, plural(len(s.busy), "queue", "queues")+" too busy")
	}
	if len(s.other) > 0 {
		counts = append(counts, plural(len(s.other), "other event", "other events"))
	}
	name := n.appName
	if name == "" {
		name = config.DefaultAppName
	}
	head := ch.bold(esc(name) + " ops")
	if n.source != "" {
		head += " (" + esc(n.source) + ")"
	}
	head += ": " + strings.Join(counts, ", ") + " since " + n.clock(s.since)

	var lines []string
	if s.nFailed > 0 {
		parts := make([]string, 0, min(len(s.failed), maxFailedGroups)+1)
		for i, g := range s.failed {
			if i == maxFailedGroups {
				parts = append(parts, fmt.Sprintf("+%d other kinds", len(s.failed)-maxFailedGroups))
				break
			}
			parts = append(parts, fmt.Sprintf("%d× %s (queue %s)", g.count, esc(g.job), esc(g.queue)))
		}
		lines = append(lines, "• "+plural(s.nFailed, "job", "jobs")+" failed for good: "+strings.Join(parts, ", "))
		for i, g := range s.failed {
			if i == maxErrorSamples {
				break
			}
			if g.lastError != "" {
				lines = append(lines, "    "+esc(g.job)+": "+esc(truncate(g.lastError, maxErrorSample)))
			}
		}
	}
	if len(s.late) > 0 {
		parts := make([]string, 0, min(len(s.late), maxLateListed)+1)
		for i, p := range s.late {
			if i == maxLateListed {
				parts = append(parts, fmt.Sprintf("+%d more", len(s.late)-maxLateListed))
				break
			}
			parts = append(parts, fmt.Sprintf("%s (%s, booking %s)", esc(p.Code), rupiah(p.Amount), esc(p.Status)))
		}
		lines = append(lines, "• "+plural(len(s.late), "late payment needs", "late payments need")+" a refund: "+strings.Join(parts, ", "))
	}
	for _, w := range s.waits {
		lines = append(lines, fmt.Sprintf("• Oldest wait on %s is %s (threshold %s; %s in the queue)", esc(w.Queue),
			shortDuration(time.Duration(w.WaitSeconds)*time.Second), shortDuration(time.Duration(w.ThresholdSeconds)*time.Second),
			plural(w.Size, "job", "jobs")))
	}
	for _, b := range s.busy {
		lines = append(lines, fmt.Sprintf("• Queue %s holds %s (threshold %d)", esc(b.Queue), plural(b.Size, "job", "jobs"), b.Max))
	}
	for _, o := range s.other {
		lines = append(lines, "• "+esc(o))
	}
	if s.rest > 0 {
		lines = append(lines, fmt.Sprintf("• %s follow in the next message", plural(s.rest, "more event", "more events")))
	}
	var tail string
	if n.dashboard != "" {
		tail = "Dashboard: " + esc(n.dashboard)
	}
	return fit(head, lines, tail, ch.limit)
}

// fit joins head, lines and tail, dropping lines from the end (and saying
// so) until the message has at most limit characters.
func fit(head string, lines []string, tail string, limit int) string {
	join := func(ls []string, note string) string {
		all := append([]string{head}, ls...)
		if note != "" {
			all = append(all, note)
		}
		if tail != "" {
			all = append(all, tail)
		}
		return strings.Join(all, "\n")
	}
	// One line may not take more than half the message.
	for i, l := range lines {
		lines[i] = truncate(l, limit/2)
	}
	msg := join(lines, "")
	for cut := 1; utf8.RuneCountInString(msg) > limit && cut <= len(lines); cut++ {
		msg = join(lines[:len(lines)-cut], fmt.Sprintf("• … %s cut to fit the message", plural(cut, "line", "lines")))
	}
	return truncate(msg, limit)
}

// clock formats t for a message: the time of day in the notifier's zone,
// with the date when it is not today.
func (n *Notifier) clock(t time.Time) string {
	t = t.In(n.loc)
	now := n.now().In(n.loc)
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04 MST")
	}
	return t.Format("2 Jan 15:04 MST")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// shortDuration writes d as people read waits: 45s, 7m, 7m30s, 1h05m.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0 && s == 0:
		return fmt.Sprintf("%dm", m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// rupiah writes a whole-rupiah amount as the emails do: Rp1.500.000.
func rupiah(amount int64) string { return money.FormatRupiah(amount) }
