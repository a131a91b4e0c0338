package driver

import (
	"context"
	"time"
)

// Queues is the capability of an Admin over whole queues: their
// counters, clearing one, and the pauses every worker obeys.
type Queues interface {
	// QueueClear deletes every job of a queue (pending, delayed and
	// reserved) and returns how many.
	QueueClear(ctx context.Context, queue string) (int, error)
	// QueueStats returns per-queue counters: every queue with jobs, failed
	// jobs or a pause, plus the queues asked for by name.
	QueueStats(ctx context.Context, params *QueueStatsParams) ([]*QueueStat, error)
	// QueuePause stops every worker from taking jobs from a queue; the
	// pause is stored, so it holds for every worker on every server.
	QueuePause(ctx context.Context, queue, by string) error
	// QueueResume lifts a pause. Resuming a queue that is not paused is not
	// an error.
	QueueResume(ctx context.Context, queue string) error
	// QueuePausedList returns the paused queues.
	QueuePausedList(ctx context.Context) ([]*QueuePause, error)
}

// DefaultCountLimit is where QueueStats stops counting a queue's jobs of
// one state unless QueueStatsParams.CountLimit says otherwise: counting
// every row of a backlog of millions at each dashboard view or scrape
// costs seconds, counting up to ten thousand of them through an index a
// few milliseconds.
const DefaultCountLimit = 10000

// QueueStatsParams name queues to report even when they are empty.
type QueueStatsParams struct {
	Queues []string
	// CountLimit bounds the pending, delayed and reserved counts of each
	// queue: a count stops at CountLimit+1, which reads "more than
	// CountLimit". Zero means DefaultCountLimit; a negative limit counts
	// every row, however long that takes. Failed jobs are always counted
	// in full.
	CountLimit int
}

// Limit returns the count limit p asks for: DefaultCountLimit when p is
// nil or leaves it zero, 0 for no limit.
func (p *QueueStatsParams) Limit() int {
	switch {
	case p == nil || p.CountLimit == 0:
		return DefaultCountLimit
	case p.CountLimit < 0:
		return 0
	}
	return p.CountLimit
}

// QueueStat is the state of one queue.
type QueueStat struct {
	Queue string `json:"queue"`
	// Pending jobs are available now; Delayed ones later; Reserved ones
	// are running (or held by a worker that died, until their lease ends).
	Pending  int `json:"pending"`
	Delayed  int `json:"delayed"`
	Reserved int `json:"reserved"`
	Failed   int `json:"failed"`
	// OldestWait is how long the oldest pending job has been available
	// without being taken, by the database clock.
	OldestWait time.Duration `json:"-"`
	Paused     bool          `json:"paused"`
	// CountLimit, when not zero, is where the Pending, Delayed and
	// Reserved counts stopped: a count above it (CountLimit+1) means "more
	// than CountLimit" (Capped). Zero means the counts are exact.
	CountLimit int `json:"count_limit,omitempty"`
}

// Capped tells whether n, one of s's Pending, Delayed or Reserved
// counts, stopped at the count limit: there are more than s.CountLimit
// such jobs, and n is a lower bound.
func (s *QueueStat) Capped(n int) bool { return s.CountLimit > 0 && n > s.CountLimit }

// AnyCapped tells whether any count of s stopped at the count limit.
func (s *QueueStat) AnyCapped() bool {
	return s.Capped(s.Pending) || s.Capped(s.Delayed) || s.Capped(s.Reserved)
}

// Size is the number of jobs in the queue (pending, delayed and reserved),
// as Laravel's Queue::size counts it; a lower bound when AnyCapped.
func (s *QueueStat) Size() int { return s.Pending + s.Delayed + s.Reserved }

// QueuePause is one paused queue.
type QueuePause struct {
	Queue    string    `json:"queue"`
	PausedAt time.Time `json:"paused_at"`
	PausedBy string    `json:"paused_by"`
}
