// Package crashtest holds the queue's fault tests. They build the tripin
// binary and run real `tripin queue work` processes against a fresh
// database of each backend (SQLite always; MariaDB/MySQL and PostgreSQL
// when TRIPIN_TEST_MYSQL_DSN and TRIPIN_TEST_PGSQL_DSN are set), then kill
// them with SIGKILL or stop them with SIGTERM and check from the database
// and from the workers' JSON job lines that no job was lost, failed or run
// more often than the crash allows.
//
// The package has no code of its own outside its tests.
package crashtest
