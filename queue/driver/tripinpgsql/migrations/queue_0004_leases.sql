-- replaces: 0009_leases
-- Fenced leases. A claim stores the end of its lease on the job
-- (lease_expires_at, by the database clock, from the claiming worker's own
-- lease), so that no worker judges another's lease by its own setting, and
-- heartbeats move it on. heartbeat_at is the claim's last renewal, which is
-- also its start mark: NULL until the worker first renews the claim, 0 for
-- a claim that already took an expired, never-renewed reservation over
-- with the attempt given back (see the claim statements). claim_seq counts
-- the job's claims: every claim adds one, so it names one claim even when
-- the same worker takes its own job back with the attempt given back.
-- Outcome writes and heartbeats match reserved_by and claim_seq, so a
-- stalled worker whose job was taken over changes nothing. Reservations
-- that exist as this runs get the default lease of 90 seconds; outbox rows
-- of the redis connection (reserved_by 'redis:…') keep none and are never
-- claimed here. Workers of the previous version set no lease when they
-- claim, so their jobs would never be rescued: stop them before migrating.
ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT NULL;
ALTER TABLE jobs ADD COLUMN claim_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN heartbeat_at BIGINT NULL;
UPDATE jobs SET lease_expires_at = reserved_at + 90
WHERE reserved_at IS NOT NULL AND (reserved_by IS NULL OR reserved_by NOT LIKE 'redis:%');
DROP INDEX jobs_queue_reserved;
-- The claim finds expired leases through this index: it holds only
-- reserved rows, ordered by when their lease ends.
CREATE INDEX jobs_queue_lease ON jobs (queue, lease_expires_at) WHERE reserved_at IS NOT NULL;
