-- One row per scheduled event that a scheduler process ran, dispatched or
-- skipped on a tick; the dashboard shows each event's last run and outcome.
-- Times are Unix seconds, as in the queue's tables.
CREATE TABLE schedule_runs (
  id BIGSERIAL PRIMARY KEY,
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

-- The expiry sweep walks pending bookings in (created_at, id) order, 500 at a
-- time from a cursor. InnoDB and SQLite indexes end with the primary key, so
-- bookings_status_created already gives that order there; PostgreSQL's does
-- not, and without this index it would read and sort every remaining
-- pending booking on each chunk. Partial: only pending bookings are in it.
CREATE INDEX bookings_pending_created ON bookings (created_at, id) WHERE status = 'pending';
