-- What a stored payment notification records besides its body, so that a
-- rejected one can be kept as a bounded record: the SHA-256 of the whole
-- body (payload then holds only its first 1 KiB), the body's size, why it
-- was rejected, and the address it came from. Accepted notifications fill
-- them too, and keep their whole body.
ALTER TABLE payment_notifications ADD COLUMN payload_sha256 CHAR(64) NULL;
ALTER TABLE payment_notifications ADD COLUMN payload_bytes INTEGER NULL;
ALTER TABLE payment_notifications ADD COLUMN reason VARCHAR(255) NULL;
ALTER TABLE payment_notifications ADD COLUMN remote_ip VARCHAR(64) NULL;
