-- The fair-use check counts a customer's pending bookings in every booking
-- transaction. bookings_user (user_id, id) made it read every booking the
-- customer ever made; this partial index holds the pending ones only, so
-- the count reads a handful of entries however long the history.
CREATE INDEX bookings_user_pending ON bookings (user_id) WHERE status = 'pending';
