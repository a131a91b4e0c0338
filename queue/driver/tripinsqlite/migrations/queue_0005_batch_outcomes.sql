-- replaces: 0011_batch_outcomes
-- One row per job of a batch that ran to an end: its uuid and whether it
-- succeeded or failed for good. A batch's counters move only when a job's
-- row is first written (or a failed job, retried, succeeds), in the
-- transaction that also dispatches the batch's then/catch/finally jobs, so
-- recording an outcome twice — a worker killed between recording it and
-- deleting the job runs the job again — changes nothing. The worker
-- records it before it writes the job's own outcome, so no crash can lose
-- it. Rows go with their batch.
CREATE TABLE job_batch_outcomes (
  batch_id VARCHAR(255) NOT NULL REFERENCES job_batches(id) ON DELETE CASCADE,
  job_uuid VARCHAR(255) NOT NULL,
  failed BOOLEAN NOT NULL,
  recorded_at BIGINT NOT NULL,
  PRIMARY KEY (batch_id, job_uuid)
);
