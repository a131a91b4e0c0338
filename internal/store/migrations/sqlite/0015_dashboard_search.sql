-- The dashboard's booking search by the start of a code or of a customer's
-- email address needs no new index on SQLite: the unique indexes on
-- bookings.code and users.email (BINARY collation) serve its range
-- (code >= prefix AND code < prefix || U+10FFFF). PostgreSQL gets pattern
-- indexes under this name; every dialect has the same migrations.
SELECT 1;
