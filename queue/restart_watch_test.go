package queue

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// countingReader counts the reads of the restart signal.
type countingReader struct {
	cacheReader
	reads chan struct{}
}

func (c *countingReader) CacheGet(ctx context.Context, key string) (string, bool, error) {
	select {
	case c.reads <- struct{}{}:
	default:
	}
	return c.cacheReader.CacheGet(ctx, key)
}

// TestRestartWatch: the watch keeps reading while the signal is unchanged,
// and closes restart once `queue restart` writes a new timestamp.
func TestRestartWatch(t *testing.T) {
	ctx := context.Background()
	d, _ := queuetest.Driver(t, sqldb.SQLite)
	require.NoError(t, d.CachePut(ctx, RestartCacheKey, "100", 0))
	cr := &countingReader{cacheReader: d, reads: make(chan struct{}, 1)}
	w, err := newRestartWatch(ctx, cr, 5*time.Millisecond, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, "100", w.initial)
	<-cr.reads // the initial read
	done := make(chan struct{})
	defer close(done)
	w.start(ctx, done)
	for range 3 {
		<-cr.reads
	}
	select {
	case <-w.restart:
		t.Fatal("restart closed with the signal unchanged")
	default:
	}
	require.NoError(t, d.CachePut(ctx, RestartCacheKey, "200", 0))
	select {
	case <-w.restart:
	case <-time.After(10 * time.Second):
		t.Fatal("restart not closed after the signal changed")
	}
}

// TestRestartWatchStops: the watch ends when the run is done, reading no
// more; with no interval it reads nothing at all.
func TestRestartWatchStops(t *testing.T) {
	ctx := context.Background()
	d, _ := queuetest.Driver(t, sqldb.SQLite)
	cr := &countingReader{cacheReader: d, reads: make(chan struct{}, 1)}

	off, err := newRestartWatch(ctx, cr, 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	off.start(ctx, nil)
	require.Empty(t, cr.reads, "an interval of 0 reads nothing")

	w, err := newRestartWatch(ctx, cr, 5*time.Millisecond, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	<-cr.reads
	done := make(chan struct{})
	w.start(ctx, done)
	<-cr.reads
	close(done)
	time.Sleep(50 * time.Millisecond) // let a read under way finish
	for len(cr.reads) > 0 {
		<-cr.reads
	}
	select {
	case <-cr.reads:
		t.Fatal("the watch read on after the run was done")
	case <-time.After(100 * time.Millisecond):
	}
	select {
	case <-w.restart:
		t.Fatal("restart closed with the signal unchanged")
	default:
	}
}

// TestRestartWatchReadError: a signal that cannot be read when the run
// begins is an error.
func TestRestartWatchReadError(t *testing.T) {
	d, db := queuetest.Driver(t, sqldb.SQLite)
	require.NoError(t, db.Close())
	_, err := newRestartWatch(context.Background(), d, time.Second, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "read restart signal")
}
