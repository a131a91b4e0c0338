-- The dashboard's booking search by the start of a code or of a customer's
-- email address. A unique index serves LIKE 'prefix%' only under the "C"
-- collation; these serve it under any collation the database was created
-- with (en_US.UTF-8, ICU, …). Equality keeps using the unique indexes.
CREATE INDEX bookings_code_pattern ON bookings (code text_pattern_ops);
CREATE INDEX users_email_pattern ON users (email text_pattern_ops);
