-- When each limiter window ends (unix seconds, by the database clock), so
-- that the hourly prune can delete the windows that are over and
-- queue_rate_limits stays as small as the keys used in the last period.
-- Rows written before this column existed have none: they get one on their
-- next hit, and are never deleted before, since their period is unknown.
ALTER TABLE queue_rate_limits ADD COLUMN expires_at BIGINT NULL;
CREATE INDEX queue_rate_limits_expires_at ON queue_rate_limits (expires_at);
