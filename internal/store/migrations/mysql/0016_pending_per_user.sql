-- The fair-use check counts a customer's pending bookings in every booking
-- transaction. bookings_user (user_id, id) made it read every booking the
-- customer ever made; with the status in the index the count reads the
-- pending entries only, however long the history.
CREATE INDEX bookings_user_status ON bookings (user_id, status);
