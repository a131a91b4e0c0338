-- Per job class (the job's kind) and queue: the jobs that completed and
-- failed for good, the sum of their runtimes in microseconds and their
-- histogram (runtime_b00..runtime_b15 count the runtimes up to 1, 2.5, 5,
-- 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000 and 60000 ms,
-- and above), so that the p95 of any minutes or hours can be computed by
-- adding their buckets, and the sum and maximum of the time they waited.
-- period_seconds is 60 for the minutes the workers write; the hourly prune
-- rolls the minutes older than a day up into hours (3600). Times are Unix
-- seconds of the database clock.
CREATE TABLE job_class_metrics (
  kind VARCHAR(255) NOT NULL,
  queue VARCHAR(255) NOT NULL,
  period_seconds INTEGER NOT NULL,
  period_start BIGINT NOT NULL,
  processed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  runtime_us BIGINT NOT NULL DEFAULT 0,
  wait_ms BIGINT NOT NULL DEFAULT 0,
  max_wait_ms BIGINT NOT NULL DEFAULT 0,
  runtime_b00 INTEGER NOT NULL DEFAULT 0,
  runtime_b01 INTEGER NOT NULL DEFAULT 0,
  runtime_b02 INTEGER NOT NULL DEFAULT 0,
  runtime_b03 INTEGER NOT NULL DEFAULT 0,
  runtime_b04 INTEGER NOT NULL DEFAULT 0,
  runtime_b05 INTEGER NOT NULL DEFAULT 0,
  runtime_b06 INTEGER NOT NULL DEFAULT 0,
  runtime_b07 INTEGER NOT NULL DEFAULT 0,
  runtime_b08 INTEGER NOT NULL DEFAULT 0,
  runtime_b09 INTEGER NOT NULL DEFAULT 0,
  runtime_b10 INTEGER NOT NULL DEFAULT 0,
  runtime_b11 INTEGER NOT NULL DEFAULT 0,
  runtime_b12 INTEGER NOT NULL DEFAULT 0,
  runtime_b13 INTEGER NOT NULL DEFAULT 0,
  runtime_b14 INTEGER NOT NULL DEFAULT 0,
  runtime_b15 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, queue, period_seconds, period_start)
);
CREATE INDEX job_class_metrics_period_start ON job_class_metrics (period_start);
