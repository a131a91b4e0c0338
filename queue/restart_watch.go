package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// cacheReader is the part of a driver the restart watch reads.
type cacheReader interface {
	CacheGet(ctx context.Context, key string) (value string, ok bool, err error)
}

// restartWatch notices `queue restart`: it reads the restart timestamp in
// the shared cache every interval, and closes restart once the value
// differs from the one read when the run began.
type restartWatch struct {
	d        cacheReader
	interval time.Duration
	initial  string
	log      *slog.Logger
	restart  chan struct{}
}

// newRestartWatch reads the current restart signal with ctx. With an
// interval ≤ 0 the watch is off: start does nothing and restart never
// closes.
func newRestartWatch(ctx context.Context, d cacheReader, interval time.Duration, log *slog.Logger) (*restartWatch, error) {
	w := &restartWatch{d: d, interval: interval, log: log, restart: make(chan struct{})}
	if interval <= 0 {
		return w, nil
	}
	initial, _, err := d.CacheGet(ctx, RestartCacheKey)
	if err != nil {
		return nil, fmt.Errorf("queue: work: read restart signal: %w", err)
	}
	w.initial = initial
	return w, nil
}

// start watches in the background until ctx ends, done closes or the
// signal changes.
func (w *restartWatch) start(ctx context.Context, done <-chan struct{}) {
	if w.interval > 0 {
		go w.run(ctx, done)
	}
}

func (w *restartWatch) run(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
		v, _, err := w.d.CacheGet(ctx, RestartCacheKey)
		if err != nil {
			w.log.Warn("queue: read restart signal", "error", err)
			continue
		}
		if v != w.initial {
			close(w.restart)
			return
		}
	}
}
