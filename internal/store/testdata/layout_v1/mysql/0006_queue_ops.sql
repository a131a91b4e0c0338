-- What operators and the worker's middleware share across processes:
-- paused queues, rate-limit windows, per-minute job metrics and, when
-- history is kept, completed jobs. Times are Unix seconds, as in the
-- queue's tables, always taken from the database clock.
CREATE TABLE queue_pauses (
  queue VARCHAR(255) NOT NULL PRIMARY KEY,
  paused_at BIGINT NOT NULL,
  paused_by VARCHAR(255) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE queue_rate_limits (
  name VARCHAR(255) NOT NULL PRIMARY KEY,
  window_start BIGINT NOT NULL,
  hits INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE job_metrics (
  queue VARCHAR(255) NOT NULL,
  minute BIGINT NOT NULL,
  processed INT NOT NULL DEFAULT 0,
  failed INT NOT NULL DEFAULT 0,
  runtime_ms BIGINT NOT NULL DEFAULT 0,
  max_wait_ms BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (queue, minute),
  KEY job_metrics_minute (minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE completed_jobs (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  uuid VARCHAR(255) NOT NULL,
  queue VARCHAR(255) NOT NULL,
  kind VARCHAR(255) NOT NULL,
  attempts INT NOT NULL,
  runtime_ms BIGINT NOT NULL,
  wait_ms BIGINT NOT NULL,
  completed_at BIGINT NOT NULL,
  KEY completed_jobs_completed_at (completed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE INDEX job_batches_created_at ON job_batches (created_at);
