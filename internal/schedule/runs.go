package schedule

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// Outcome is what happened to an event on a tick.
type Outcome string

// The outcomes of an event on a tick. Only the first four are recorded in
// schedule_runs; a tick another server took is only logged.
const (
	OutcomeDispatched  Outcome = "dispatched"  // its job was inserted into the queue
	OutcomeRan         Outcome = "ran"         // its function ran and returned nil
	OutcomeFailed      Outcome = "failed"      // dispatching or running it failed
	OutcomeOverlapping Outcome = "overlapping" // skipped: its previous run has not finished
	OutcomeOtherServer Outcome = "other_server"
)

// Run is one event's run on one tick, as stored in schedule_runs.
type Run struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Tick       time.Time `json:"tick"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Outcome    Outcome   `json:"outcome"`
	JobID      int64     `json:"job_id,omitempty"`
	Host       string    `json:"host"`
	Error      string    `json:"error,omitempty"`
}

// RunLog stores and reads schedule_runs, the history behind the dashboard's
// "last run" column.
type RunLog struct {
	db *store.DB
}

// NewRunLog returns the run log of db.
func NewRunLog(db *store.DB) *RunLog { return &RunLog{db: db} }

// Record stores one run.
func (l *RunLog) Record(ctx context.Context, r Run) error {
	var finished, jobID any
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt.Unix()
	}
	if r.JobID != 0 {
		jobID = r.JobID
	}
	var errText any
	if r.Error != "" {
		errText = r.Error
	}
	_, err := l.db.ExecContext(ctx, l.db.Rebind(
		"INSERT INTO schedule_runs (name, tick, started_at, finished_at, outcome, job_id, host, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		r.Name, r.Tick.Unix(), r.StartedAt.Unix(), finished, string(r.Outcome), jobID, r.Host, errText)
	if err != nil {
		return fmt.Errorf("schedule: record run of %s: %w", r.Name, err)
	}
	return nil
}

// Last returns the latest run of every event that has run, by name.
func (l *RunLog) Last(ctx context.Context) (map[string]Run, error) {
	rows, err := l.db.Read.QueryContext(ctx, `SELECT r.id, r.name, r.tick, r.started_at, r.finished_at, r.outcome, r.job_id, r.host, r.error
FROM schedule_runs r JOIN (SELECT name, MAX(id) AS id FROM schedule_runs GROUP BY name) m ON m.id = r.id`)
	if err != nil {
		return nil, fmt.Errorf("schedule: last runs: %w", err)
	}
	defer rows.Close()
	out := map[string]Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("schedule: last runs: %w", err)
		}
		out[r.Name] = r
	}
	return out, rows.Err()
}

// List returns the latest runs of the event named name (all events when
// name is empty), newest first.
func (l *RunLog) List(ctx context.Context, name string, limit int) ([]Run, error) {
	q := "SELECT id, name, tick, started_at, finished_at, outcome, job_id, host, error FROM schedule_runs"
	var args []any
	if name != "" {
		q += " WHERE name = ?"
		args = append(args, name)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, max(limit, 1))
	rows, err := l.db.Read.QueryContext(ctx, l.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("schedule: list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("schedule: list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Prune deletes runs started before before and returns how many.
func (l *RunLog) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := l.db.ExecContext(ctx, l.db.Rebind("DELETE FROM schedule_runs WHERE started_at < ?"), before.Unix())
	if err != nil {
		return 0, fmt.Errorf("schedule: prune runs: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func scanRun(rows *sql.Rows) (Run, error) {
	var (
		r                     Run
		tick, started         int64
		finished, jobID       sql.NullInt64
		outcome, host, errTxt sql.NullString
	)
	if err := rows.Scan(&r.ID, &r.Name, &tick, &started, &finished, &outcome, &jobID, &host, &errTxt); err != nil {
		return Run{}, err
	}
	r.Tick, r.StartedAt = time.Unix(tick, 0).UTC(), time.Unix(started, 0).UTC()
	if finished.Valid {
		r.FinishedAt = time.Unix(finished.Int64, 0).UTC()
	}
	r.Outcome, r.JobID, r.Host, r.Error = Outcome(outcome.String), jobID.Int64, host.String, errTxt.String
	return r, nil
}
