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
  unique_key VARCHAR(255) NULL,
  reserved_by VARCHAR(255) NULL,
  batch_id VARCHAR(36) NULL,
  last_error TEXT NULL
);
-- The claim reads the available jobs of a queue in the order they became
-- available, then by id (jobs_queue_pending: it holds only unreserved rows
-- and its range stops at now, so neither running nor delayed jobs are ever
-- scanned), and the jobs whose lease expired (jobs_queue_reserved, which
-- holds only reserved rows).
CREATE INDEX jobs_queue_pending ON jobs (queue, available_at, id) WHERE reserved_at IS NULL;
CREATE INDEX jobs_queue_reserved ON jobs (queue, reserved_at) WHERE reserved_at IS NOT NULL;
CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
-- Only keyed jobs enter the unique index, so the others (almost all) cost
-- it nothing on insert, claim and delete.
CREATE UNIQUE INDEX jobs_unique_key_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL;

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
  expiration BIGINT NOT NULL
);

CREATE TABLE cache_locks (
  key VARCHAR(255) PRIMARY KEY,
  owner VARCHAR(255) NOT NULL,
  expiration BIGINT NOT NULL
);
