// Package doctor checks a Tripin deployment and says what is wrong with
// it, one line per problem: the configuration, the database (reachable,
// its version able to claim jobs with SKIP LOCKED, its schema current,
// its clock), the SMTP server, the Redis server of the redis queue
// connection, the workers' and schedulers' heartbeats, the disk and the
// SQLite WAL, and the hourly retention prune. Each check is a small
// function of Params; Run runs them all. `tripin doctor` prints the
// results.
package doctor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check.
const (
	StatusOK      Status = "ok"
	StatusProblem Status = "problem"
	// StatusSkipped is a check that does not apply to this deployment
	// (SMTP with MAIL_MAILER=log, Redis on the database connection), or
	// that needs a database it could not reach.
	StatusSkipped Status = "skipped"
)

// Result is what one check found.
type Result struct {
	// Check names the check ("database", "smtp", …).
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Detail says what was found when the check passed, or why it was
	// skipped.
	Detail string `json:"detail,omitempty"`
	// Problems are one line each.
	Problems []string `json:"problems,omitempty"`
}

// Defaults of the thresholds in Params.
const (
	// DefaultMaxClockSkew is the largest difference between this host's
	// clock and the database's that passes: the queue and the scheduler
	// use the database clock, but logs, bookings' e-mails and Midtrans
	// expiry times are read against the host's.
	DefaultMaxClockSkew = 2 * time.Second
	// DefaultStaleAfter is how old a process's last heartbeat may be for
	// it to count as alive: processes heartbeat every 10 s, and `queue
	// stats` lists those seen in the last minute.
	DefaultStaleAfter = 60 * time.Second
	// DefaultSchedulerRunWindow is how recent a scheduled task's run must
	// be to show that a scheduler started from cron (`schedule run`, which
	// keeps no heartbeat) is alive: the expiry sweep runs every five
	// minutes.
	DefaultSchedulerRunWindow = 10 * time.Minute
	// DefaultRetentionMaxAge is how long ago the hourly retention prune
	// may have last run.
	DefaultRetentionMaxAge = 2 * time.Hour
	// DefaultMinFreeBytes is the free space the SQLite database's
	// directory must keep: a full disk stops every write.
	DefaultMinFreeBytes = 1 << 30
	// DefaultMaxWALBytes is the SQLite WAL size that is a problem: the
	// checkpointer keeps it near store.WALRestartBytes (16 MiB) under
	// load, so four times that means checkpoints are not keeping up
	// (a long-running reader holds them back).
	DefaultMaxWALBytes = 4 * store.WALRestartBytes
	// DefaultTimeout bounds each check.
	DefaultTimeout = 10 * time.Second
)

// Params are what the checks inspect.
type Params struct {
	// Config is the configuration, possibly partial: Diagnose's when
	// loading it failed.
	Config *config.Config
	// ConfigErrors are the errors and warnings of loading Config, one
	// line each.
	ConfigErrors []string
	// DB is the open database, nil when it could not be opened (DBErr
	// then says why).
	DB    *store.DB
	DBErr error
	// RetentionTask names the retention prune's scheduled task.
	RetentionTask string

	// Now is this host's clock; nil means time.Now.
	Now func() time.Time
	// SMTPTLSConfig, when set, replaces the TLS settings of the SMTP
	// check (tests trust their own certificate with it).
	SMTPTLSConfig *tls.Config

	// The thresholds; zero means their Default.
	MaxClockSkew       time.Duration
	StaleAfter         time.Duration
	SchedulerRunWindow time.Duration
	RetentionMaxAge    time.Duration
	MinFreeBytes       int64
	MaxWALBytes        int64
	Timeout            time.Duration

	// schemaBehind is set by the migrations check: the checks that read
	// the queue's and the scheduler's tables are then skipped rather than
	// failing on tables that do not exist yet.
	schemaBehind bool
}

// Check is one concern of a deployment.
type Check struct {
	Name string
	Run  func(ctx context.Context, p *Params) Result
}

// Checks are every check, in the order Run runs them.
var Checks = []Check{
	{"config", checkConfig},
	{"database", checkDatabase},
	{"migrations", checkMigrations},
	{"clock", checkClock},
	{"smtp", checkSMTP},
	{"redis", checkRedis},
	{"workers", checkWorkers},
	{"scheduler", checkScheduler},
	{"disk", checkDisk},
	{"retention", checkRetention},
}

// Run runs every check, each within p.Timeout.
func Run(ctx context.Context, p Params) []Result {
	p.defaults()
	out := make([]Result, 0, len(Checks))
	for _, c := range Checks {
		cctx, cancel := context.WithTimeout(ctx, p.Timeout)
		r := c.Run(cctx, &p)
		cancel()
		r.Check = c.Name
		out = append(out, r)
	}
	return out
}

func (p *Params) defaults() {
	if p.Now == nil {
		p.Now = time.Now
	}
	setDefault(&p.MaxClockSkew, DefaultMaxClockSkew)
	setDefault(&p.StaleAfter, DefaultStaleAfter)
	setDefault(&p.SchedulerRunWindow, DefaultSchedulerRunWindow)
	setDefault(&p.RetentionMaxAge, DefaultRetentionMaxAge)
	setDefault(&p.Timeout, DefaultTimeout)
	setDefault(&p.MinFreeBytes, DefaultMinFreeBytes)
	setDefault(&p.MaxWALBytes, DefaultMaxWALBytes)
}

func setDefault[T time.Duration | int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Problems counts the problems of results.
func Problems(results []Result) int {
	n := 0
	for _, r := range results {
		n += len(r.Problems)
	}
	return n
}

// WriteText writes one line per problem, and unless quiet one line per
// passing or skipped check:
//
//	OK       database: mysql 11.4.2-MariaDB (SKIP LOCKED: yes)
//	PROBLEM  clock: this host's clock is 7.2s ahead of the database's (more than 2s)
//	SKIPPED  smtp: MAIL_MAILER=log sends no mail
func WriteText(w io.Writer, results []Result, quiet bool) error {
	var b strings.Builder
	for _, r := range results {
		switch {
		case len(r.Problems) > 0:
			for _, pr := range r.Problems {
				fmt.Fprintf(&b, "PROBLEM  %s: %s\n", r.Check, oneLine(pr))
			}
		case quiet:
		case r.Status == StatusSkipped:
			fmt.Fprintf(&b, "SKIPPED  %s: %s\n", r.Check, oneLine(r.Detail))
		default:
			fmt.Fprintf(&b, "OK       %s: %s\n", r.Check, oneLine(r.Detail))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the results and the number of problems as one JSON
// object.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Problems int      `json:"problems"`
		Checks   []Result `json:"checks"`
	}{Problems(results), results})
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func ok(format string, args ...any) Result {
	return Result{Status: StatusOK, Detail: fmt.Sprintf(format, args...)}
}

func skipped(format string, args ...any) Result {
	return Result{Status: StatusSkipped, Detail: fmt.Sprintf(format, args...)}
}

func problems(lines ...string) Result {
	return Result{Status: StatusProblem, Problems: lines}
}

func problemf(format string, args ...any) Result {
	return problems(fmt.Sprintf(format, args...))
}

// noDatabase is the result of a check that needs the database when there
// is none.
func noDatabase() Result { return skipped("needs the database, which is not reachable") }

// schemaBehind is the result of a check whose query failed on a schema
// that is behind.
func schemaBehind() Result { return skipped("needs the current schema (see migrations)") }

// scrub removes the configuration's secrets from a message.
func (p *Params) scrub(s string) string {
	if p.Config == nil {
		return s
	}
	return config.Scrub(s, p.Config.Secrets())
}
