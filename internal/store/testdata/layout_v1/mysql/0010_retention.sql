-- Indexes for the scheduled prune (prune-old-records): each prune walks the
-- rows older than its retention in time order, a chunk at a time, so the
-- time column it bounds must be indexed. Rejected payment notifications are
-- pruned long before the accepted ones; (outcome, received_at) finds them
-- without reading a year of accepted ones.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX payment_notifications_received_at ON payment_notifications (received_at);
CREATE INDEX payment_notifications_outcome_received_at ON payment_notifications (outcome, received_at);
CREATE INDEX personal_access_tokens_expires_at ON personal_access_tokens (expires_at);
