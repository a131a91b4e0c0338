-- The dashboard's booking search by the start of a code or of a customer's
-- email address needs no new index on MariaDB/MySQL: the unique indexes on
-- bookings.code and users.email serve LIKE 'prefix%' under any collation.
-- PostgreSQL gets pattern indexes under this name; every dialect has the
-- same migrations.
SELECT 1;
