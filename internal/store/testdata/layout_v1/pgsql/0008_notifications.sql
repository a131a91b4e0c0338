-- Operations notifications (internal/notify): one row per event worth an
-- operator's attention — a job that failed for good (job_failed), a queue
-- holding too many jobs (queue_busy) or keeping its oldest job waiting too
-- long (long_wait), a payment that arrived after its booking gave its
-- seats away and needs a refund (late_payment). Recording one is a single
-- insert, usually in the transaction that caused it; the
-- SendOpsNotifications job summarises the unsent rows into one message per
-- channel and window and stamps them. subject is the dedupe key (a queue
-- over its threshold is recorded once per window); body is one line for
-- people and details the event as JSON. Times are Unix seconds from the
-- database clock, as in the queue's tables. slack_sent_at and
-- discord_sent_at record each channel's delivery, so that a retry after
-- one channel failed never posts to the other again; sent_at is set once
-- every configured channel has the event (or when it was skipped because
-- no channel is configured any more).
CREATE TABLE ops_notifications (
  id BIGSERIAL PRIMARY KEY,
  kind VARCHAR(32) NOT NULL,
  subject VARCHAR(255) NOT NULL,
  body TEXT NOT NULL,
  details TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  slack_sent_at BIGINT NULL,
  discord_sent_at BIGINT NULL,
  sent_at BIGINT NULL
);
CREATE INDEX ops_notifications_sent_at ON ops_notifications (sent_at, id);
CREATE INDEX ops_notifications_subject ON ops_notifications (subject, created_at);
