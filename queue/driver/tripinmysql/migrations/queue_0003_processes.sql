-- replaces: 0007_processes
-- The live worker and scheduler processes: each one upserts its row when
-- it starts and on every heartbeat, and deletes it on a clean stop, so the
-- dashboard and `queue stats` can show who is working. A row whose
-- heartbeat stopped belongs to a process that died; it is pruned later.
-- Times are Unix seconds from the database clock, as in the queue's tables;
-- queues is the comma-joined list of queue names and jobs the comma-joined
-- names ("Kind#id") of up to ten running jobs.
CREATE TABLE queue_processes (
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  kind VARCHAR(32) NOT NULL,
  host VARCHAR(255) NOT NULL,
  pid INT NOT NULL,
  queues TEXT NOT NULL,
  concurrency INT NOT NULL DEFAULT 0,
  running INT NOT NULL DEFAULT 0,
  jobs TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  last_heartbeat BIGINT NOT NULL,
  KEY queue_processes_last_heartbeat (last_heartbeat)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
