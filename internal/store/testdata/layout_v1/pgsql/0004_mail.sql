-- One row per booking email the mail server accepted, so that a retried
-- email job never sends it again. kind is "invoice" or "eticket", or
-- "<kind>/resend/<job uuid>" for an explicit re-send. No foreign key to
-- bookings: this is a delivery record, kept even if a booking is purged.
CREATE TABLE sent_emails (
  id BIGSERIAL PRIMARY KEY,
  booking_id BIGINT NOT NULL,
  kind VARCHAR(100) NOT NULL,
  message_id VARCHAR(255) NOT NULL,
  recipient VARCHAR(255) NOT NULL,
  reply VARCHAR(512) NOT NULL DEFAULT '',
  sent_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (booking_id, kind)
);
CREATE INDEX sent_emails_sent_at ON sent_emails (sent_at);
