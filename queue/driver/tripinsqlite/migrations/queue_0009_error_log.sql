-- The error log of a job: the errors of its failed attempts, oldest
-- first, as a JSON array of {"attempt", "at", "error"} (the last ten
-- attempts, each error cut at 2 KiB). A retry writes it on the job; a job
-- that fails for good or completes takes it to failed_jobs or
-- completed_jobs, where the job's page shows it.
ALTER TABLE jobs ADD COLUMN error_log TEXT NULL;
ALTER TABLE failed_jobs ADD COLUMN error_log TEXT NULL;
ALTER TABLE completed_jobs ADD COLUMN error_log TEXT NULL;
