-- Completed jobs kept as history (QUEUE_KEEP_COMPLETED) carry what a job's
-- page shows: the job's id in the jobs table, its payload (and so its
-- tags, the payload's "tags" as in Horizon's), when it was queued, became
-- available and was last started. kept_for is, for a job with a monitored
-- tag, how many seconds after completed_at it is kept whatever the
-- completed-jobs retention (0 for the others). Jobs are found by uuid on
-- their page; rows written before this migration have none of these.
ALTER TABLE completed_jobs
  ADD COLUMN job_id BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN payload LONGTEXT NULL,
  ADD COLUMN queued_at BIGINT NULL,
  ADD COLUMN available_at BIGINT NULL,
  ADD COLUMN started_at BIGINT NULL,
  ADD COLUMN kept_for BIGINT NOT NULL DEFAULT 0;
CREATE INDEX completed_jobs_uuid ON completed_jobs (uuid);

-- The monitored tags (a dashboard action): the completed jobs of a
-- monitored tag are kept for QUEUE_MONITORED_KEEP.
CREATE TABLE queue_monitored_tags (
  tag VARCHAR(255) NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
