// Package sqldb is the database handle shared by Tripin's queue drivers
// and its application: it opens SQLite, MySQL/MariaDB or PostgreSQL with
// the settings they need (a single BEGIN IMMEDIATE writer and a read pool
// on SQLite, READ COMMITTED on MySQL, keepalives everywhere), rebinds
// portable SQL, runs transactions that retry on transient conflicts, and
// applies forward-only migrations recorded in one migrations table. It
// knows no table but that one.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a SQL dialect Tripin speaks.
type Dialect string

// The supported dialects, spelled as DB_CONNECTION spells them.
const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
	PgSQL  Dialect = "pgsql"
)

// DB is the database handle. Writes go through DB (on SQLite a single
// connection that opens every transaction with BEGIN IMMEDIATE, so writers
// queue in Go instead of spinning on SQLITE_BUSY); reads that need no
// transaction may use Read, which on SQLite is a separate pool of read-only
// connections and elsewhere is the same pool.
type DB struct {
	*sql.DB
	Read    *sql.DB
	Dialect Dialect
	// Name is the database (or SQLite file) this handle points at.
	Name string

	// stopCheckpoints ends SQLite's background WAL checkpoints
	// (checkpoint.go).
	stopCheckpoints func()
}

// OpenParams says which database to open.
type OpenParams struct {
	Dialect Dialect
	// DSN is a full data source name: a file path or file: URI for SQLite,
	// a mysql:// URL or go-sql-driver DSN for MySQL, a postgres:// URL or
	// key=value string for PostgreSQL.
	DSN string
	// MaxOpenConns caps the pool (0 picks a default for the dialect).
	MaxOpenConns int
	// WALRestartBytes is, on SQLite, the log size at which the background
	// checkpointer resets the WAL and the size the WAL file is truncated
	// back to (0: the default, WALRestartBytes). Tests make it small.
	WALRestartBytes int64
}

// DSNFromParts builds a DSN from DB_* parts when DB_URL is not set.
func DSNFromParts(dialect Dialect, database, host string, port int, user, password string) string {
	switch dialect {
	case MySQL:
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net = user, password, "tcp"
		cfg.Addr = fmt.Sprintf("%s:%d", host, port)
		cfg.DBName = database
		return cfg.FormatDSN()
	case PgSQL:
		u := url.URL{Scheme: "postgres", Host: fmt.Sprintf("%s:%d", host, port), Path: "/" + database}
		if user != "" {
			if password != "" {
				u.User = url.UserPassword(user, password)
			} else {
				u.User = url.User(user)
			}
		}
		q := url.Values{}
		q.Set("sslmode", "prefer")
		u.RawQuery = q.Encode()
		return u.String()
	default:
		return database
	}
}

// Open opens and pings the database. It does not migrate.
func Open(ctx context.Context, p OpenParams) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch p.Dialect {
	case SQLite:
		db, err = openSQLite(p)
	case MySQL:
		db, err = openMySQL(p)
	case PgSQL:
		db, err = openPgSQL(p)
	default:
		return nil, fmt.Errorf("sqldb: unknown dialect %q", p.Dialect)
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: connect to %s database %q: %w", p.Dialect, db.Name, RedactError(err, p.DSN))
	}
	return db, nil
}

// RedactError removes a DSN's password from an error message.
func RedactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	pw := dsnPassword(dsn)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "********"))
}

func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	if cfg, err := mysql.ParseDSN(dsn); err == nil {
		return cfg.Passwd
	}
	return ""
}

func openSQLite(p OpenParams) (*DB, error) {
	path := p.DSN
	path = strings.TrimPrefix(path, "sqlite://")
	path = strings.TrimPrefix(path, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return nil, errors.New("sqldb: sqlite: empty database path")
	}
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("sqldb: sqlite: create %s: %w", dir, err)
			}
		}
	}
	// synchronous=NORMAL in WAL mode survives any process crash (kill -9);
	// only an OS crash or power cut can lose the last commits.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_time_format=sqlite"
	restartBytes := p.WALRestartBytes
	if restartBytes <= 0 {
		restartBytes = WALRestartBytes
	}
	// The writer never checkpoints inside a commit (wal_autocheckpoint=0):
	// the background checkpointer (checkpoint.go) copies the WAL back into
	// the database file and resets it, and journal_size_limit makes the
	// first commit after a reset truncate the WAL file back to
	// restartBytes.
	// temp_store=MEMORY keeps the statement journal of each savepoint (a
	// grouped booking runs in one) in memory instead of a temporary file,
	// saving a file write per savepoint; it is rolled back, never needed
	// after a crash.
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(MEMORY)"+
		"&_pragma=journal_size_limit("+strconv.FormatInt(restartBytes, 10)+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqldb: sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqldb: sqlite: %w", err)
	}
	n := p.MaxOpenConns
	if n <= 0 {
		n = 8
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{DB: w, Read: r, Dialect: SQLite, Name: path}
	if path != ":memory:" {
		ck, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
		if err != nil {
			w.Close()
			r.Close()
			return nil, fmt.Errorf("sqldb: sqlite: %w", err)
		}
		ck.SetMaxOpenConns(1)
		ck.SetConnMaxLifetime(0)
		c := newCheckpointer(ck, w, path, restartBytes)
		c.start()
		db.stopCheckpoints = c.stop
	}
	return db, nil
}

func openMySQL(p OpenParams) (*DB, error) {
	dsn := p.DSN
	if strings.HasPrefix(dsn, "mysql://") || strings.HasPrefix(dsn, "mariadb://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, errors.New("sqldb: mysql: DB_URL is not a valid URL")
		}
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", u.Host
		if u.Port() == "" {
			cfg.Addr = u.Host + ":3306"
		}
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		cfg.Params = map[string]string{}
		for k, v := range u.Query() {
			cfg.Params[k] = v[0]
		}
		dsn = cfg.FormatDSN()
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: mysql: invalid DSN: %w", RedactError(err, dsn))
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = true
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = mysqlReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = mysqlWriteTimeout
	}
	if cfg.DialFunc == nil && (cfg.Net == "tcp" || cfg.Net == "") {
		cfg.DialFunc = dialContext
	}
	if cfg.Collation == "" || cfg.Collation == "utf8mb4_general_ci" {
		cfg.Collation = "utf8mb4_unicode_ci"
	}
	// READ COMMITTED avoids InnoDB gap locks, which turn concurrent
	// conditional updates and SKIP LOCKED claims into deadlocks. MariaDB
	// before 11.1 and MySQL before 5.7.20 call the variable tx_isolation.
	isoVar, err := isolationVariable(cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: connect to mysql database %q: %w", cfg.DBName, RedactError(err, dsn))
	}
	cfg.Params[isoVar] = "'READ-COMMITTED'"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: mysql: %w", RedactError(err, dsn))
	}
	db := sql.OpenDB(conn)
	n := p.MaxOpenConns
	if n <= 0 {
		n = 32
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{DB: db, Read: db, Dialect: MySQL, Name: cfg.DBName}, nil
}

// isolationVariable asks the server which name its session isolation
// variable has: MariaDB before 11.1 and MySQL before 5.7.20 only know
// tx_isolation, MySQL 8 only transaction_isolation.
func isolationVariable(cfg *mysql.Config) (string, error) {
	probe := cfg.Clone()
	probe.Params = nil
	conn, err := mysql.NewConnector(probe)
	if err != nil {
		return "", err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.global_variables WHERE variable_name = 'TRANSACTION_ISOLATION'").Scan(&n)
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "tx_isolation", nil
	}
	return "transaction_isolation", nil
}

func openPgSQL(p OpenParams) (*DB, error) {
	cfg, err := pgx.ParseConfig(p.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqldb: pgsql: invalid DSN: %w", RedactError(err, p.DSN))
	}
	// Keepalives and TCP_USER_TIMEOUT find a dead server (connect_timeout
	// from the DSN, when set, still bounds connecting).
	timeout := cfg.ConnectTimeout
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return dialContext(ctx, network, addr)
	}
	db := stdlib.OpenDB(*cfg)
	n := p.MaxOpenConns
	if n <= 0 {
		n = 32
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{DB: db, Read: db, Dialect: PgSQL, Name: cfg.Database}, nil
}

// Close closes the pools.
func (db *DB) Close() error {
	if db.stopCheckpoints != nil {
		db.stopCheckpoints()
		db.stopCheckpoints = nil
	}
	err := db.DB.Close()
	if db.Read != nil && db.Read != db.DB {
		if rerr := db.Read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// UnixNowSQL is the SQL of the database clock in whole Unix seconds, the
// unit of the queue's, locks' and notifications' times. Every decision
// that several servers must agree on reads this clock, never theirs.
func UnixNowSQL(d Dialect) string {
	switch d {
	case MySQL:
		return "UNIX_TIMESTAMP()"
	case PgSQL:
		return "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)"
	default:
		return "CAST(unixepoch() AS INTEGER)"
	}
}

// Rebind turns the ? placeholders of portable SQL into $1, $2, … for
// PostgreSQL. Question marks inside single-quoted literals are left alone.
func (db *DB) Rebind(query string) string { return Rebind(db.Dialect, query) }

// Rebind is DB.Rebind for a bare dialect.
func Rebind(d Dialect, query string) string {
	if d != PgSQL || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, inQuote := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// InTx runs fn in a transaction and commits it, retrying the whole
// transaction when the database reports a deadlock, a serialization failure
// or a busy lock. fn must therefore be safe to run more than once.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	const maxAttempts = 8
	for attempt := 1; ; attempt++ {
		err := db.inTxOnce(ctx, fn)
		if err == nil || !IsRetryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		d := time.Duration(attempt*attempt) * time.Millisecond
		d += time.Duration(rand.Int64N(int64(d) + 1))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	return nil
}

// IsRetryable reports whether err is a transient conflict that a retry of
// the same transaction can resolve: a MySQL deadlock or lock wait timeout,
// a PostgreSQL serialization failure or deadlock, or SQLite busy/locked.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "55P03"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// IsDiskFull reports whether err says the database ran out of disk space:
// SQLite's SQLITE_FULL, MySQL's "table is full" or "disk full", or
// PostgreSQL's disk_full. The statement that met it changed nothing; the
// API answers such errors with 503 "database disk is full".
func IsDiskFull(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_FULL
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1114 || me.Number == 1021
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "53100"
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Now returns the database server's clock in UTC. Queue and lock decisions
// use it so that many servers with drifting clocks agree.
func (db *DB) Now(ctx context.Context) (time.Time, error) {
	var q string
	switch db.Dialect {
	case MySQL:
		q = "SELECT UNIX_TIMESTAMP(NOW(6))"
	case PgSQL:
		q = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"
	default:
		q = "SELECT (julianday('now') - 2440587.5) * 86400.0"
	}
	var f float64
	if err := db.QueryRowContext(ctx, q).Scan(&f); err != nil {
		return time.Time{}, fmt.Errorf("sqldb: database clock: %w", err)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}
