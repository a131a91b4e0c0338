-- The queue's tables, with Laravel's column names (times are Unix seconds, as
-- Laravel stores them) and Tripin's extra columns.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue VARCHAR(255) NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  reserved_at INTEGER NULL,
  available_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  uuid CHAR(36) NOT NULL,
  kind VARCHAR(255) NOT NULL,
  max_attempts INTEGER NOT NULL DEFAULT 0,
  unique_key VARCHAR(255) NULL UNIQUE,
  reserved_by VARCHAR(255) NULL,
  batch_id VARCHAR(36) NULL,
  last_error TEXT NULL
);
CREATE INDEX jobs_queue_reserved_at_available_at_index ON jobs (queue, reserved_at, available_at);
CREATE INDEX jobs_batch ON jobs (batch_id);

CREATE TABLE job_batches (
  id VARCHAR(255) PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  total_jobs INTEGER NOT NULL,
  pending_jobs INTEGER NOT NULL,
  failed_jobs INTEGER NOT NULL,
  failed_job_ids TEXT NOT NULL,
  options TEXT NULL,
  cancelled_at INTEGER NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER NULL
);

CREATE TABLE failed_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid VARCHAR(255) NOT NULL UNIQUE,
  connection TEXT NOT NULL,
  queue TEXT NOT NULL,
  payload TEXT NOT NULL,
  exception TEXT NOT NULL,
  failed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX failed_jobs_failed_at ON failed_jobs (failed_at);

CREATE TABLE cache (
  key VARCHAR(255) PRIMARY KEY,
  value TEXT NOT NULL,
  expiration INTEGER NOT NULL
);

CREATE TABLE cache_locks (
  key VARCHAR(255) PRIMARY KEY,
  owner VARCHAR(255) NOT NULL,
  expiration INTEGER NOT NULL
);
