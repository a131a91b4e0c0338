-- One row per booking email the mail server accepted, so that a retried
-- email job never sends it again. kind is "invoice" or "eticket", or
-- "<kind>/resend/<job uuid>" for an explicit re-send. No foreign key to
-- bookings: this is a delivery record, kept even if a booking is purged.
CREATE TABLE sent_emails (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  booking_id BIGINT UNSIGNED NOT NULL,
  kind VARCHAR(100) NOT NULL,
  message_id VARCHAR(255) NOT NULL,
  recipient VARCHAR(255) NOT NULL,
  reply VARCHAR(512) NOT NULL DEFAULT '',
  sent_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY sent_emails_booking_kind_unique (booking_id, kind),
  KEY sent_emails_sent_at (sent_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
