package httpapi

import (
	"sync"
	"time"
)

// rateLimiter counts failed attempts per key in fixed windows. It lives in
// the process: with several web processes each allows the limit on its
// own, which bounds guessing to limit × processes per window. A shared
// limiter would use the cache table.
type rateLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	hits   map[string]*window
}

type window struct {
	count   int
	resetAt time.Time
}

func newRateLimiter(limit int, w time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: w, now: now, hits: map[string]*window{}}
}

// allow reports whether key may try again, and if not, how long to wait.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.hits[key]
	now := l.now()
	if !ok || !now.Before(w.resetAt) {
		return true, 0
	}
	if w.count >= l.limit {
		return false, w.resetAt.Sub(now)
	}
	return true, 0
}

// fail counts a failed attempt.
func (l *rateLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.hits) > 10_000 {
		for k, w := range l.hits {
			if !now.Before(w.resetAt) {
				delete(l.hits, k)
			}
		}
	}
	w, ok := l.hits[key]
	if !ok || !now.Before(w.resetAt) {
		w = &window{resetAt: now.Add(l.window)}
		l.hits[key] = w
	}
	w.count++
}

// reset forgets a key's failures after a success.
func (l *rateLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hits, key)
}
