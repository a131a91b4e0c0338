package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// snapshot keeps the result of one database read for a short while. The
// mutex also makes concurrent scrapes wait for the read under way instead
// of starting their own, so the database sees at most one read per source
// and interval however many scrapers there are.
type snapshot[T any] struct {
	source  string
	m       *Metrics
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	at      time.Time
	val     T
	err     error
	failing bool
}

func newSnapshot[T any](m *Metrics, source string, opts Options) *snapshot[T] {
	return &snapshot[T]{source: source, m: m, ttl: opts.CacheFor, timeout: opts.Timeout, now: opts.Now}
}

// get returns the cached result, or reads it with load when it is older
// than the cache time. A failed read is cached too, so that a database
// in trouble is not asked again by every scrape. The first failure of a
// run of failures is logged, and the recovery after it, not every scrape.
func (s *snapshot[T]) get(load func(ctx context.Context) (T, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.at.IsZero() && s.now().Sub(s.at) < s.ttl {
		return s.val, s.err
	}
	// A scrape has no context of its own: the timeout is what keeps a
	// locked table from holding the scrape until Prometheus gives up.
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.val, s.err = load(ctx)
	s.at = s.now()
	switch {
	case s.err != nil:
		s.m.readErrors.WithLabelValues(s.source).Inc()
		if !s.failing {
			s.m.log.Warn("telemetry: read for metrics failed; its series are left out until it succeeds",
				slog.String("source", s.source), slog.Any("error", s.err))
		}
		s.failing = true
	case s.failing:
		s.m.log.Info("telemetry: read for metrics works again", slog.String("source", s.source))
		s.failing = false
	}
	return s.val, s.err
}

// reset forgets the cached result, after the source changed.
func (s *snapshot[T]) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = time.Time{}
}
