-- One row per scheduled event that a scheduler process ran, dispatched or
-- skipped on a tick; the dashboard shows each event's last run and outcome.
-- Times are Unix seconds, as in the queue's tables.
CREATE TABLE schedule_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name VARCHAR(255) NOT NULL,
  tick BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NULL,
  outcome VARCHAR(32) NOT NULL,
  job_id BIGINT NULL,
  host VARCHAR(255) NOT NULL DEFAULT '',
  error TEXT NULL
);
CREATE INDEX schedule_runs_name ON schedule_runs (name, id);
CREATE INDEX schedule_runs_started ON schedule_runs (started_at);
