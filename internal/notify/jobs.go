package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// SendOpsNotifications is the job that posts the unsent events' summary to
// every channel. Record inserts it once per window (unique key), to run
// when the window ends; it carries no args, since it reads what is unsent
// when it runs.
type SendOpsNotifications struct{}

// Kind names the job in payloads, logs and failed_jobs.
func (SendOpsNotifications) Kind() string { return "SendOpsNotifications" }

// sendBackoff gives a failing webhook time to come back: the job gives up
// after about fifty minutes, and its events wait for the next message.
var sendBackoff = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
	5 * time.Minute, 10 * time.Minute, 30 * time.Minute}

// InsertOpts are the job's defaults: queue notifications, 8 tries, a
// minute each, backoff from 10s to 30m.
func (SendOpsNotifications) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: Queue, Tries: len(sendBackoff) + 1, Timeout: time.Minute, Backoff: sendBackoff}
}

// MonitorQueues is the job that checks every queue against
// QUEUE_WAIT_THRESHOLDS and QUEUE_MONITOR_MAX (Notifier.CheckQueues). The
// scheduler dispatches it every minute.
type MonitorQueues struct{}

// Kind names the job in payloads, logs and failed_jobs.
func (MonitorQueues) Kind() string { return "MonitorQueues" }

// InsertOpts are the job's defaults: queue notifications, one try (the
// next minute's check is the retry), 30 s, and unique, so that checks do
// not pile up while no worker takes the queue.
func (MonitorQueues) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: Queue, Tries: 1, Timeout: 30 * time.Second, UniqueKey: "monitor-queues"}
}

// AddWorkers registers the notification jobs' workers on ws.
func AddWorkers(ws *queue.Workers, n *Notifier) {
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[SendOpsNotifications]) error {
		return n.Send(ctx, job.UUID+"#"+strconv.Itoa(job.Attempts))
	}))
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[MonitorQueues]) error {
		_, err := n.CheckQueues(ctx)
		return err
	}))
}

// The send's limits.
const (
	// maxPerMessage bounds the events one message summarises; the rest
	// are counted and follow a window later.
	maxPerMessage = 500
	// sendLockKey makes sends take turns: the jobs of two windows may be
	// due at once (one retrying), and must not post the same events.
	sendLockKey = "notify:send"
	sendLockTTL = 2 * time.Minute
	// lockBusyDelay is how long a send waits for another to finish.
	lockBusyDelay = 5 * time.Second
	// lastSentPrefix starts the cache key of a channel's last message time.
	lastSentPrefix = "notify:last-sent:"
)

// Send posts, to each channel, one summary of the events it has not
// received, and stamps them; it is the SendOpsNotifications job's work,
// and owner names the attempt in the send lock. A channel that got a
// message less than a window ago is held back until the window has
// passed. A webhook answering 429 snoozes the job for its Retry-After; any
// other failure is returned, so the queue retries with backoff, and only
// the channels that failed are posted to again. With no channel
// configured, the unsent events are stamped as skipped.
func (n *Notifier) Send(ctx context.Context, owner string) error {
	if len(n.channels) == 0 {
		now, err := n.db.Now(ctx)
		if err != nil {
			return err
		}
		_, err = n.markSent(ctx, now)
		return err
	}
	if locks := n.locks(); locks != nil {
		ok, err := locks.LockAcquire(ctx, &driver.LockAcquireParams{Key: sendLockKey, Owner: owner, TTL: sendLockTTL})
		if err != nil {
			return fmt.Errorf("notify: take the send lock: %w", err)
		}
		if !ok {
			return queue.Snooze(lockBusyDelay)
		}
		defer func() {
			if err := locks.LockRelease(context.WithoutCancel(ctx), sendLockKey, owner); err != nil {
				n.log.Warn("notify: release the send lock", "error", err)
			}
		}()
	}
	now, err := n.db.Now(ctx)
	if err != nil {
		return err
	}
	var (
		failures []error
		snooze   time.Duration // the longest 429 wait
		hold     time.Duration // the soonest a held-back channel may post
		more     bool
	)
	for _, ch := range n.channels {
		events, rest, err := n.unsent(ctx, ch, maxPerMessage)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			continue
		}
		if wait := n.heldBack(ctx, ch, now); wait > 0 {
			if hold == 0 || wait < hold {
				hold = wait
			}
			continue
		}
		if err := n.post(ctx, ch, n.render(ch, summarise(events, rest))); err != nil {
			var we *WebhookError
			if errors.As(err, &we) && we.RetryAfter > 0 {
				snooze = max(snooze, we.RetryAfter)
			} else {
				failures = append(failures, err)
			}
			n.log.Warn("notify: post failed", "channel", ch.name, "events", len(events), "error", err)
			continue
		}
		n.setLastSent(ctx, ch, now)
		if err := n.markChannel(ctx, ch, events, now); err != nil {
			return err
		}
		n.log.Info("notify: posted", "channel", ch.name, "events", len(events), "left", rest)
		more = more || rest > 0
	}
	if _, err := n.markSent(ctx, now); err != nil {
		return err
	}
	switch {
	case len(failures) > 0:
		return errors.Join(failures...)
	case snooze > 0:
		return queue.Snooze(snooze)
	case hold > 0:
		return queue.Snooze(hold)
	case more:
		// The events past this message's bound go out a window later.
		return queue.Snooze(n.window)
	}
	return nil
}

// heldBack returns how long ch must still wait before its next message,
// by the database clock: zero when its last message is a window old. A
// second of slack absorbs the jobs' start times, which the queue keeps in
// whole seconds, so that consecutive windows' jobs are not held back for
// a few milliseconds. When the time cannot be read, ch is not held back:
// a message too many beats a lost one.
func (n *Notifier) heldBack(ctx context.Context, ch *channel, now time.Time) time.Duration {
	d := n.cacheDriver()
	if d == nil {
		return 0
	}
	v, ok, err := d.CacheGet(ctx, lastSentPrefix+ch.name)
	if err != nil || !ok {
		if err != nil {
			n.log.Warn("notify: read last message time", "channel", ch.name, "error", err)
		}
		return 0
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	slack := min(time.Second, n.window/2)
	wait := time.Unix(0, ns).Add(n.window).Sub(now)
	if wait <= slack {
		return 0
	}
	return wait
}

// setLastSent remembers when ch got its message; the entry expires with
// the window it guards.
func (n *Notifier) setLastSent(ctx context.Context, ch *channel, now time.Time) {
	d := n.cacheDriver()
	if d == nil {
		return
	}
	if err := d.CachePut(ctx, lastSentPrefix+ch.name, strconv.FormatInt(now.UnixNano(), 10), 2*n.window); err != nil {
		n.log.Warn("notify: store last message time", "channel", ch.name, "error", err)
	}
}

func (n *Notifier) cacheDriver() driver.Driver {
	if n.q == nil {
		return nil
	}
	return n.q.Driver()
}
