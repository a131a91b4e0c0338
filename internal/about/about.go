// Package about describes a Tripin deployment in one page, as Laravel's
// `artisan about` does: the environment, the database (driver, server
// version, size), the queue connection and its queues' counts, the mail
// and Midtrans modes, the scheduled tasks and the retention settings.
// Secrets are never shown, only whether they are set. `tripin about`
// prints the report.
package about

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/doctor"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
)

// Params are what the report describes.
type Params struct {
	// Config is the configuration, possibly partial (config.Diagnose's);
	// ConfigErrors are its errors, one line each.
	Config       *config.Config
	ConfigErrors []string
	// DB is the open database, nil when it could not be opened (DBErr
	// then says why).
	DB    *store.DB
	DBErr error
	// Queues counts the jobs of the queue connection; nil when it could
	// not be opened (QueuesErr then says why).
	Queues    driver.Queues
	QueuesErr error
	// Schedule are the scheduled tasks.
	Schedule []schedule.EventInfo
}

// Report is the description of a deployment.
type Report struct {
	Environment Environment `json:"environment"`
	Database    Database    `json:"database"`
	Queue       Queue       `json:"queue"`
	Mail        Mail        `json:"mail"`
	Midtrans    Midtrans    `json:"midtrans"`
	Schedule    []Task      `json:"schedule"`
	Retention   []Setting   `json:"retention"`
	Secrets     []Setting   `json:"secrets"`
	// Errors are the configuration's errors, one line each.
	Errors []string `json:"errors,omitempty"`
}

// Environment is the application's environment and build.
type Environment struct {
	AppEnv    string `json:"app_env"`
	Debug     bool   `json:"debug"`
	URL       string `json:"url"`
	Timezone  string `json:"timezone"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"go_version"`
	HTTPAddr  string `json:"http_addr"`
	LogLevel  string `json:"log_level"`
	LogFile   string `json:"log_file"`
}

// Database is the database and its server.
type Database struct {
	Driver string `json:"driver"`
	// Database is the SQLite file or the database's name; Server is
	// host:port (empty for SQLite).
	Database  string `json:"database"`
	Server    string `json:"server,omitempty"`
	Version   string `json:"version,omitempty"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
	// PendingMigrations counts the migrations not applied yet.
	PendingMigrations int    `json:"pending_migrations"`
	Error             string `json:"error,omitempty"`
}

// Queue is the queue connection and its queues.
type Queue struct {
	Connection string `json:"connection"`
	// Redis is REDIS_URL without its password, on the redis connection.
	Redis             string              `json:"redis,omitempty"`
	Prefix            string              `json:"prefix,omitempty"`
	RetryAfterSeconds int64               `json:"retry_after_seconds"`
	Queues            []*driver.QueueStat `json:"queues"`
	Error             string              `json:"error,omitempty"`
}

// Mail is how email leaves.
type Mail struct {
	Mailer     string `json:"mailer"`
	Server     string `json:"server,omitempty"`
	Encryption string `json:"encryption,omitempty"`
	Username   string `json:"username,omitempty"`
	From       string `json:"from"`
}

// Midtrans is how payments are taken.
type Midtrans struct {
	// Mode is "production", "sandbox" or "simulator" (sandbox keys, or
	// none, with the payment simulator answering).
	Mode         string `json:"mode"`
	Simulator    bool   `json:"simulator"`
	ServerKey    string `json:"server_key"`
	ClientKey    string `json:"client_key,omitempty"`
	APIURL       string `json:"api_url"`
	VerifyStatus bool   `json:"verify_status"`
}

// Task is one scheduled task.
type Task struct {
	Name       string    `json:"name"`
	Expression string    `json:"expression"`
	NextDue    time.Time `json:"next_due"`
	Flags      []string  `json:"flags,omitempty"`
}

// Setting is one configuration key and its value as shown.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// masked stands for a secret that is set.
const masked = "********"

// Collect builds the report of p.
func Collect(ctx context.Context, p Params) *Report {
	r := &Report{Errors: p.ConfigErrors}
	cfg := p.Config
	if cfg == nil {
		cfg, _ = config.DiagnoseMap(nil)
	}
	r.Environment = Environment{
		AppEnv: cfg.AppEnv, Debug: cfg.AppDebug, URL: cfg.AppURL, Timezone: cfg.AppTimezone.String(),
		GoVersion: runtime.Version(), HTTPAddr: cfg.HTTPAddr, LogLevel: cfg.LogLevel, LogFile: cfg.LogFile,
	}
	r.Environment.Version, r.Environment.Revision = buildVersion()
	r.Database = database(ctx, cfg, p)
	r.Queue = queue(ctx, cfg, p)
	r.Mail = Mail{Mailer: cfg.MailMailer, From: fmt.Sprintf("%s <%s>", cfg.MailFromName, cfg.MailFromAddress)}
	if cfg.MailMailer == "smtp" {
		r.Mail.Server = net.JoinHostPort(cfg.MailHost, strconv.Itoa(cfg.MailPort))
		r.Mail.Encryption, r.Mail.Username = cfg.MailEncryption, cfg.MailUsername
	}
	r.Midtrans = midtrans(cfg)
	for _, e := range p.Schedule {
		t := Task{Name: e.Name, Expression: e.Expression, NextDue: e.NextDue}
		if e.WithoutOverlapping {
			t.Flags = append(t.Flags, "without overlapping")
		}
		if e.OnOneServer {
			t.Flags = append(t.Flags, "on one server")
		}
		r.Schedule = append(r.Schedule, t)
	}
	dump := map[string]string{}
	for _, kv := range cfg.Dump() {
		k, v, _ := strings.Cut(kv, "=")
		dump[k] = v
		if strings.Contains(k, "RETENTION") {
			r.Retention = append(r.Retention, Setting{k, v})
		}
	}
	for _, k := range SecretKeys {
		v := "not set"
		if dump[k] != "" {
			v = "set"
		}
		r.Secrets = append(r.Secrets, Setting{k, v})
	}
	return r
}

// SecretKeys are the settings the report shows only as set or not set.
var SecretKeys = []string{
	"APP_KEY", "DB_PASSWORD", "DB_URL", "REDIS_URL", "MAIL_PASSWORD", "MIDTRANS_SERVER_KEY",
	"NOTIFY_SLACK_WEBHOOK_URL", "NOTIFY_DISCORD_WEBHOOK_URL",
}

func database(ctx context.Context, cfg *config.Config, p Params) Database {
	d := Database{Driver: cfg.DBConnection, Database: cfg.DBDatabase}
	if cfg.DBConnection != "sqlite" && cfg.DBURL == "" {
		d.Server = net.JoinHostPort(cfg.DBHost, strconv.Itoa(cfg.DBPort))
	}
	if cfg.DBURL != "" {
		if u, err := url.Parse(cfg.DBURL); err == nil && u.Host != "" {
			d.Server = u.Host
		}
	}
	scrub := cfg.Scrubber()
	if p.DB == nil {
		d.Error = "not reachable"
		if p.DBErr != nil {
			d.Error = scrub(p.DBErr.Error())
		}
		return d
	}
	d.Driver, d.Database = string(p.DB.Dialect), p.DB.Name
	var errs []string
	if v, err := doctor.ServerVersion(ctx, p.DB); err != nil {
		errs = append(errs, err.Error())
	} else {
		d.Version = v
	}
	if n, err := Size(ctx, p.DB); err != nil {
		errs = append(errs, err.Error())
	} else {
		d.SizeBytes = n
	}
	if pending, err := p.DB.Pending(ctx); err != nil {
		errs = append(errs, err.Error())
	} else {
		d.PendingMigrations = len(pending)
	}
	if len(errs) > 0 {
		d.Error = scrub(strings.Join(errs, "; "))
	}
	return d
}

// Size returns the bytes the database takes: the SQLite file with its
// WAL, MySQL's data and indexes of the database's tables, or PostgreSQL's
// pg_database_size.
func Size(ctx context.Context, db *store.DB) (int64, error) {
	switch db.Dialect {
	case store.SQLite:
		var total int64
		for _, f := range []string{db.Name, db.Name + "-wal"} {
			if st, err := os.Stat(f); err == nil {
				total += st.Size()
			}
		}
		return total, nil
	case store.MySQL:
		var n int64
		err := db.QueryRowContext(ctx, "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("database size: %w", err)
		}
		return n, nil
	case store.PgSQL:
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
			return 0, fmt.Errorf("database size: %w", err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("database size: unknown dialect %q", db.Dialect)
}

func queue(ctx context.Context, cfg *config.Config, p Params) Queue {
	q := Queue{Connection: cfg.QueueConnection, RetryAfterSeconds: int64(cfg.DBQueueRetryAfter / time.Second), Queues: []*driver.QueueStat{}}
	if cfg.QueueConnection == "redis" {
		q.Redis, q.Prefix = redactURL(cfg.RedisURL), cfg.RedisQueuePrefix
	}
	scrub := cfg.Scrubber()
	if p.Queues == nil {
		q.Error = "not reachable"
		if p.QueuesErr != nil {
			q.Error = scrub(p.QueuesErr.Error())
		}
		return q
	}
	stats, err := p.Queues.QueueStats(ctx, &driver.QueueStatsParams{Queues: []string{"default"}})
	if err != nil {
		q.Error = scrub(err.Error())
		return q
	}
	q.Queues = stats
	return q
}

// redactURL drops the password of a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return masked
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}

func midtrans(cfg *config.Config) Midtrans {
	m := Midtrans{Simulator: cfg.SimulatorEnabled(), ClientKey: cfg.MidtransClientKey, APIURL: cfg.MidtransAPIURL,
		VerifyStatus: cfg.MidtransVerifyStatus, ServerKey: "not set"}
	if cfg.MidtransServerKey != "" {
		m.ServerKey = masked
	}
	switch {
	case cfg.MidtransIsProduction:
		m.Mode = "production"
	case cfg.SimulatorEnabled():
		m.Mode = "simulator"
	default:
		m.Mode = "sandbox"
	}
	return m
}

// buildVersion reads the module version and VCS revision the binary was
// built with.
func buildVersion() (version, revision string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", ""
	}
	version = info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return version, revision
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
