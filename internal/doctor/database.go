package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
)

// checkDatabase reports a database that cannot be reached, and a server
// too old for the queue's claims (SELECT … FOR UPDATE SKIP LOCKED:
// MySQL 8.0.1, MariaDB 10.6, PostgreSQL 9.5; SQLite has one writer and
// needs none).
func checkDatabase(ctx context.Context, p *Params) Result {
	if p.DB == nil {
		err := "not opened"
		if p.DBErr != nil {
			err = p.DBErr.Error()
		}
		return problemf("cannot connect: %s", p.scrub(err))
	}
	if err := p.DB.PingContext(ctx); err != nil {
		return problemf("cannot connect: %s", p.scrub(err.Error()))
	}
	version, err := ServerVersion(ctx, p.DB)
	if err != nil {
		return problems(p.scrub(err.Error()))
	}
	if problem := SkipLockedProblem(p.DB.Dialect, version); problem != "" {
		return problems(problem)
	}
	if p.DB.Dialect == store.SQLite {
		return ok("sqlite %s at %s (one writer: SKIP LOCKED not needed)", version, p.DB.Name)
	}
	return ok("%s %s (SKIP LOCKED: yes)", p.DB.Dialect, version)
}

// ServerVersion returns the database server's version string: SQLite's
// library version, MySQL's VERSION() (which names MariaDB), or
// PostgreSQL's server_version.
func ServerVersion(ctx context.Context, db *store.DB) (string, error) {
	var q string
	switch db.Dialect {
	case store.SQLite:
		q = "SELECT sqlite_version()"
	case store.MySQL:
		q = "SELECT VERSION()"
	case store.PgSQL:
		q = "SHOW server_version"
	default:
		return "", fmt.Errorf("unknown database dialect %q", db.Dialect)
	}
	var v string
	if err := db.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return "", fmt.Errorf("read the server version: %w", err)
	}
	return v, nil
}

// SkipLockedProblem returns a line when a server of dialect d and version
// lacks SELECT … FOR UPDATE SKIP LOCKED, which the queue claims jobs
// with, and "" when it has it (or, SQLite, needs none).
func SkipLockedProblem(d store.Dialect, version string) string {
	switch d {
	case store.MySQL:
		if _, err := tripinmysql.CheckVersion(version); err != nil {
			return strings.TrimPrefix(err.Error(), "queue: ")
		}
	case store.PgSQL:
		major, minor, ok := pgVersion(version)
		if !ok {
			return fmt.Sprintf("cannot read the PostgreSQL version %q", version)
		}
		if major < 9 || (major == 9 && minor < 5) {
			return fmt.Sprintf("PostgreSQL %s is too old: the database queue needs 9.5 or later (SELECT … FOR UPDATE SKIP LOCKED)", version)
		}
	}
	return ""
}

// pgVersion reads "16.4 (Debian 16.4-1)" or "9.6.24" as major and minor.
func pgVersion(v string) (major, minor int, ok bool) {
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	parts := strings.Split(v, ".")
	// Development versions read "17devel" or "17beta1".
	major, err := strconv.Atoi(leadingDigits(parts[0]))
	if err != nil {
		return 0, 0, false
	}
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(leadingDigits(parts[1]))
	}
	return major, minor, true
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// checkMigrations reports migrations not yet applied.
func checkMigrations(ctx context.Context, p *Params) Result {
	if p.DB == nil {
		return noDatabase()
	}
	pending, err := p.DB.Pending(ctx)
	if err != nil {
		p.schemaBehind = true
		return problemf("cannot read the migrations table: %s", p.scrub(err.Error()))
	}
	if len(pending) > 0 {
		p.schemaBehind = true
		names := pending
		if len(names) > 3 {
			names = append(names[:3:3], "…")
		}
		return problemf("%d migration(s) not applied (%s): run 'tripin migrate'", len(pending), strings.Join(names, ", "))
	}
	return ok("the schema is current")
}

// checkClock reports a host clock more than MaxClockSkew away from the
// database's, which the queue and the scheduler go by.
func checkClock(ctx context.Context, p *Params) Result {
	if p.DB == nil {
		return noDatabase()
	}
	before := p.Now()
	dbNow, err := p.DB.Now(ctx)
	if err != nil {
		return problemf("cannot read the database clock: %s", p.scrub(err.Error()))
	}
	after := p.Now()
	// The database read its clock somewhere between before and after.
	host := before.Add(after.Sub(before) / 2)
	skew := host.Sub(dbNow)
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	side := "ahead of"
	if skew < 0 {
		side = "behind"
	}
	if abs > p.MaxClockSkew {
		return problemf("this host's clock is %s %s the database's (more than %s): run NTP (chrony, systemd-timesyncd) on both",
			abs.Round(100*time.Millisecond), side, p.MaxClockSkew)
	}
	return ok("this host's clock is within %s of the database's", max(abs.Round(time.Millisecond), time.Millisecond))
}
