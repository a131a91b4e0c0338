package driver

import (
	"context"
	"time"
)

// ChunkPruner is an optional capability of an Admin: the prunes of
// metrics, completed jobs and batches, deleting at most ChunkSize rows per
// statement, each statement its own short transaction, until nothing old
// is left. The queue's Pruner uses it when the Admin has it, so that
// deleting a backlog of a million rows never holds a lock for long; without
// it, the Admin's one-statement prunes run.
type ChunkPruner interface {
	// JobMetricsPruneChunks deletes metric points older than OlderThan.
	JobMetricsPruneChunks(ctx context.Context, params *PruneChunksParams) (int, error)
	// CompletedPruneChunks deletes completed-job history older than
	// OlderThan.
	CompletedPruneChunks(ctx context.Context, params *PruneChunksParams) (int, error)
	// BatchPruneChunks deletes the batches BatchPrune would.
	BatchPruneChunks(ctx context.Context, params *BatchPruneChunksParams) (int, error)
}

// PruneChunksParams: delete rows older than OlderThan (by the database
// clock), at most ChunkSize per statement (1000 when zero).
type PruneChunksParams struct {
	OlderThan time.Duration
	ChunkSize int
}

// BatchPruneChunksParams are BatchPrune's windows and a ChunkSize (1000
// when zero).
type BatchPruneChunksParams struct {
	BatchPruneParams
	ChunkSize int
}

// RateLimitPruner is an optional capability of an Admin whose limiter
// (RateLimitHit) keeps its windows in rows: RateLimitPrune deletes the
// rows of windows that ended more than OlderThan ago (a window that is
// over counts nothing), at most ChunkSize per statement. A limiter whose
// windows expire on their own (Redis keys with a TTL) needs none.
type RateLimitPruner interface {
	RateLimitPrune(ctx context.Context, params *PruneChunksParams) (int, error)
}
