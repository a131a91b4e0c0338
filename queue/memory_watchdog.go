package queue

import (
	"runtime/metrics"
	"time"
)

// memoryWatchdog looks at the memory the process holds, every interval,
// and reports when it is over the worker's MemoryLimit (Laravel's
// --memory): the run then stops so that the supervisor can replace the
// process. Without a limit it never ticks. It trips once: after that its
// channel is nil.
type memoryWatchdog struct {
	limit  uint64
	inUse  func() uint64
	ticker *time.Ticker
}

// newMemoryWatchdog returns a watchdog for limit bytes (0: none) that
// looks every interval.
func newMemoryWatchdog(limit uint64, interval time.Duration) *memoryWatchdog {
	w := &memoryWatchdog{limit: limit, inUse: memoryInUse}
	if limit > 0 {
		w.ticker = time.NewTicker(interval)
	}
	return w
}

// c ticks when it is time to check; nil without a limit or once tripped.
func (w *memoryWatchdog) c() <-chan time.Time {
	if w.ticker == nil {
		return nil
	}
	return w.ticker.C
}

// check reads the memory in use and reports whether it is over the limit;
// when it is, the watchdog stops ticking.
func (w *memoryWatchdog) check() (used uint64, over bool) {
	if w.limit == 0 {
		return 0, false
	}
	used = w.inUse()
	if used <= w.limit {
		return used, false
	}
	w.stop()
	return used, true
}

// stop ends the ticks.
func (w *memoryWatchdog) stop() {
	if w.ticker != nil {
		w.ticker.Stop()
		w.ticker = nil
	}
}

// memoryInUse is the memory the Go runtime holds from the OS, less what it
// has released back.
func memoryInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
