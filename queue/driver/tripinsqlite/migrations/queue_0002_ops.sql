-- replaces: 0006_queue_ops
-- What operators and the worker's middleware share across processes:
-- paused queues, rate-limit windows, per-minute job metrics and, when
-- history is kept, completed jobs. Times are Unix seconds, as in the
-- queue's tables, always taken from the database clock.
CREATE TABLE queue_pauses (
  queue VARCHAR(255) PRIMARY KEY,
  paused_at BIGINT NOT NULL,
  paused_by VARCHAR(255) NOT NULL DEFAULT ''
);

CREATE TABLE queue_rate_limits (
  name VARCHAR(255) PRIMARY KEY,
  window_start BIGINT NOT NULL,
  hits INTEGER NOT NULL
);

CREATE TABLE job_metrics (
  queue VARCHAR(255) NOT NULL,
  minute BIGINT NOT NULL,
  processed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  runtime_ms BIGINT NOT NULL DEFAULT 0,
  max_wait_ms BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, minute)
);
CREATE INDEX job_metrics_minute ON job_metrics (minute);

CREATE TABLE completed_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid VARCHAR(255) NOT NULL,
  queue VARCHAR(255) NOT NULL,
  kind VARCHAR(255) NOT NULL,
  attempts INTEGER NOT NULL,
  runtime_ms BIGINT NOT NULL,
  wait_ms BIGINT NOT NULL,
  completed_at BIGINT NOT NULL
);
CREATE INDEX completed_jobs_completed_at ON completed_jobs (completed_at);

CREATE INDEX job_batches_created_at ON job_batches (created_at);
