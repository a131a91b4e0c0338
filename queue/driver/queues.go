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

// QueueStatsParams name queues to report even when they are empty.
type QueueStatsParams struct {
	Queues []string
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
}

// Size is the number of jobs in the queue (pending, delayed and reserved),
// as Laravel's Queue::size counts it.
func (s *QueueStat) Size() int { return s.Pending + s.Delayed + s.Reserved }

// QueuePause is one paused queue.
type QueuePause struct {
	Queue    string    `json:"queue"`
	PausedAt time.Time `json:"paused_at"`
	PausedBy string    `json:"paused_by"`
}
