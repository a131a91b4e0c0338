package queue

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/queue/driver"
	"github.com/tripintravel/tripin/internal/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestCompleterHeldKeepsUnwrittenOutcomes checks that jobs whose outcome is
// buffered are reported as held (so the worker heartbeats them) until the
// outcome is written, and not after.
func TestCompleterHeldKeepsUnwrittenOutcomes(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	d := tripinsqlite.New(db, tripinsqlite.Options{})
	res, err := d.JobInsertMany(ctx, []*driver.JobInsertParams{
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`)},
		{Queue: "default", Kind: "noop", Payload: []byte(`{}`)},
	})
	require.NoError(t, err)
	rows, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 2, WorkerID: "w", RetryAfter: time.Minute})
	require.NoError(t, err)
	require.Len(t, rows, 2)

	// A long interval and a large batch: nothing is written until flush.
	c := newCompleter(ctx, d, slog.New(slog.DiscardHandler), 1000, time.Hour)
	defer func() { require.NoError(t, c.close(ctx)) }()
	require.Empty(t, c.held())
	c.complete(res[0].ID)
	c.retry(&driver.JobRetryParams{ID: res[1].ID, Delay: time.Minute, Error: "again"})
	require.ElementsMatch(t, []int64{res[0].ID, res[1].ID}, c.held())

	require.Equal(t, 2, c.flush(ctx))
	require.Empty(t, c.held(), "written outcomes are no longer held")
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE reserved_at IS NOT NULL").Scan(&n))
	require.Zero(t, n)
}
