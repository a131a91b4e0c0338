package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// JobFailure is a job that failed for good (KindJobFailed).
type JobFailure struct {
	Job      string `json:"job"`
	Queue    string `json:"queue"`
	UUID     string `json:"uuid"`
	Attempts int    `json:"attempts"`
	// Error is the first line of the last attempt's error.
	Error string `json:"error"`
}

// Event returns the event that records f.
func (f JobFailure) Event() Event {
	f.Error = truncate(firstLine(f.Error), maxError)
	return Event{
		Kind:    KindJobFailed,
		Subject: "job:" + f.Job + "@" + f.Queue,
		Body:    fmt.Sprintf("%s (queue %s, job %s) failed for good after %d attempts: %s", f.Job, f.Queue, f.UUID, f.Attempts, f.Error),
		Details: f,
	}
}

// QueueBusy is a queue holding more jobs than allowed (KindQueueBusy).
type QueueBusy struct {
	Queue string `json:"queue"`
	Size  int    `json:"size"`
	Max   int    `json:"max"`
}

// Event returns the event that records b. A busy queue is reported at
// most once per within while it stays busy.
func (b QueueBusy) Event(within time.Duration) Event {
	return Event{
		Kind:         KindQueueBusy,
		Subject:      "queue_busy:" + b.Queue,
		Body:         fmt.Sprintf("queue %s holds %d jobs (threshold %d)", b.Queue, b.Size, b.Max),
		Details:      b,
		DedupeWithin: within,
	}
}

// LongWait is a queue whose oldest pending job has waited too long
// (KindLongWait).
type LongWait struct {
	Queue            string `json:"queue"`
	WaitSeconds      int64  `json:"wait_seconds"`
	ThresholdSeconds int64  `json:"threshold_seconds"`
	Size             int    `json:"size"`
}

// Event returns the event that records w. A waiting queue is reported at
// most once per within while it keeps waiting.
func (w LongWait) Event(within time.Duration) Event {
	return Event{
		Kind:    KindLongWait,
		Subject: "long_wait:" + w.Queue,
		Body: fmt.Sprintf("oldest job on %s has waited %s (threshold %s)", w.Queue,
			shortDuration(time.Duration(w.WaitSeconds)*time.Second), shortDuration(time.Duration(w.ThresholdSeconds)*time.Second)),
		Details:      w,
		DedupeWithin: within,
	}
}

// LatePayment is a payment that arrived after its booking expired and
// could not take its seats back: the booking needs a refund
// (KindLatePayment).
type LatePayment struct {
	BookingID     int64  `json:"booking_id"`
	Code          string `json:"code"`
	Amount        int64  `json:"amount"`
	Status        string `json:"status"`
	TransactionID string `json:"transaction_id,omitempty"`
}

// lateDedupe keeps a replayed payment notification from reporting the
// same booking twice.
const lateDedupe = 24 * time.Hour

// Event returns the event that records p.
func (p LatePayment) Event() Event {
	return Event{
		Kind:    KindLatePayment,
		Subject: "late_payment:" + p.Code,
		Body: fmt.Sprintf("payment of %s for booking %s arrived after it was %s; refund needed (transaction %s)",
			rupiah(p.Amount), p.Code, p.Status, p.TransactionID),
		Details:      p,
		DedupeWithin: lateDedupe,
	}
}

// ownFailureDedupe bounds how often the send job's own failure is
// recorded: a broken webhook fails every send the same way.
const ownFailureDedupe = time.Hour

// ObserveJob records the jobs that failed for good; it has the shape of
// queue.OpsConfig.Observers. The send job's own failure is recorded at
// most once an hour and starts no send of its own, so a broken webhook
// does not feed itself; it goes out with the next event's message.
func (n *Notifier) ObserveJob(ctx context.Context, row *driver.JobRow, o queue.Outcome) {
	if o.Status != queue.OutcomeFailed || !n.Enabled() {
		return
	}
	msg := ""
	if o.Err != nil {
		msg = o.Err.Error()
	}
	e := JobFailure{Job: row.Kind, Queue: row.Queue, UUID: row.UUID, Attempts: row.Attempts, Error: msg}.Event()
	if row.Kind == (SendOpsNotifications{}).Kind() {
		e.noDispatch, e.DedupeWithin = true, max(n.window, ownFailureDedupe)
	}
	if err := n.Record(ctx, e); err != nil {
		n.log.Error("notify: record failed job", "job", row.Kind, "uuid", row.UUID, "error", err)
	}
}

// RecordQueueBusy records that a queue holds more jobs than its
// threshold, as `queue monitor` finds it; a queue that stays over is
// recorded again only after a window. Errors are logged.
func (n *Notifier) RecordQueueBusy(ctx context.Context, b QueueBusy) {
	if !n.Enabled() {
		return
	}
	if err := n.Record(ctx, b.Event(n.window)); err != nil {
		n.log.Error("notify: record busy queue", "queue", b.Queue, "error", err)
	}
}

// waitThreshold is the longest the oldest pending job of q may wait.
func (n *Notifier) waitThreshold(q string) time.Duration {
	if d, ok := n.thresholds[q]; ok {
		return d
	}
	return n.thresholds["*"]
}

// CheckQueues reads every queue's counters once and records a long_wait
// event for each queue whose oldest pending job has waited past its
// threshold (paused queues wait on purpose and are left out) and a
// queue_busy event for each queue holding more than MonitorMax jobs. A
// queue that stays over is recorded again only after a window. It returns
// how many events it recorded. The scheduler runs it every minute through
// the MonitorQueues job.
func (n *Notifier) CheckQueues(ctx context.Context) (int, error) {
	if !n.Enabled() {
		return 0, nil
	}
	queues := n.queues()
	if queues == nil {
		return 0, nil // the sync connection keeps no queues
	}
	var named []string
	for q := range n.thresholds {
		if q != "*" {
			named = append(named, q)
		}
	}
	sort.Strings(named)
	// Counting up to the threshold is enough to compare against it.
	stats, err := queues.QueueStats(ctx, &driver.QueueStatsParams{Queues: named, CountLimit: max(driver.DefaultCountLimit, n.monitorMax)})
	if err != nil {
		return 0, fmt.Errorf("notify: check queues: %w", err)
	}
	var (
		recorded int
		errs     []error
	)
	add := func(e Event) {
		ok, err := n.record(ctx, e)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			recorded++
		}
	}
	for _, s := range stats {
		if t := n.waitThreshold(s.Queue); t > 0 && !s.Paused && s.Pending > 0 && s.OldestWait >= t {
			add(LongWait{Queue: s.Queue, WaitSeconds: int64(s.OldestWait / time.Second),
				ThresholdSeconds: int64(t / time.Second), Size: s.Size()}.Event(n.window))
		}
		if n.monitorMax > 0 && s.Size() > n.monitorMax {
			add(QueueBusy{Queue: s.Queue, Size: s.Size(), Max: n.monitorMax}.Event(n.window))
		}
	}
	return recorded, errors.Join(errs...)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}
