// Package config loads Tripin's typed configuration once, from an optional
// .env file and then the process environment (which wins), and validates it.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // APP_TIMEZONE must resolve on hosts without zoneinfo.

	"github.com/joho/godotenv"

	"github.com/tripintravel/tripin/internal/i18n"
)

// Config is the whole process configuration. It is loaded once and passed down;
// nothing in Tripin reads the environment after Load.
type Config struct {
	// AppName (APP_NAME) is the name customers and operators see: in the
	// emails, the e-ticket page and the dashboard. Use Name, which falls
	// back to "Tripin" for a Config built by hand.
	AppName     string
	AppEnv      string // local, staging, production or testing
	AppDebug    bool
	AppURL      string
	AppTimezone *time.Location
	// AppLocale (APP_LOCALE) is the language of what customers read: the
	// emails, the e-ticket page and the payment simulator page. One of
	// i18n.Tags(): en (the default) or id (Bahasa Indonesia).
	AppLocale string

	// DBConnection is sqlite, mysql or pgsql; DB_CONNECTION=mariadb is
	// read as mysql (one dialect serves both servers).
	DBConnection string
	DBDatabase   string
	DBHost       string
	DBPort       int
	DBUsername   string
	DBPassword   string
	DBURL        string

	QueueConnection string // sync, database or redis
	// RedisURL is REDIS_URL, or the URL built from REDIS_HOST, REDIS_PORT,
	// REDIS_PASSWORD and REDIS_DB when REDIS_URL is unset.
	RedisURL string
	// RedisHost, RedisPort, RedisPassword and RedisDB are the REDIS_*
	// parts as configured (with their defaults); RedisURL wins over them.
	RedisHost     string
	RedisPort     int
	RedisPassword string
	RedisDB       int
	// RedisQueuePrefix starts every key the redis connection writes, so
	// that several applications (or a staging copy) can share one Redis.
	RedisQueuePrefix  string
	DBQueueRetryAfter time.Duration
	// QueueKeepCompleted (QUEUE_KEEP_COMPLETED) is how long completed jobs
	// are kept for the dashboard; 0 keeps none. QueueMonitoredKeep
	// (QUEUE_MONITORED_KEEP) is how long those of a monitored tag are.
	QueueKeepCompleted time.Duration
	QueueMonitoredKeep time.Duration

	MailMailer     string // smtp or log
	MailHost       string
	MailPort       int
	MailUsername   string
	MailPassword   string
	MailEncryption string // tls, ssl or none
	// MailScheme is MAIL_SCHEME as configured (Laravel 11's smtp or
	// smtps, or empty); MailEncryption is what it resolved to.
	MailScheme       string
	MailFromAddress  string
	MailFromName     string
	MailTemplatesDir string

	MidtransServerKey    string
	MidtransClientKey    string
	MidtransIsProduction bool
	MidtransSnapURL      string
	MidtransAPIURL       string
	MidtransVerifyStatus bool

	// Payments (issue 13, part B): the simulator switch and the limits on
	// rejected Midtrans notifications.

	// PaymentSimulator is whether the payment simulator answers: on by
	// default only in local mode, on elsewhere only when PAYMENT_SIMULATOR
	// asks for it with Midtrans sandbox keys, never in production.
	PaymentSimulator bool
	// PaymentRejectedRateLimit is how many rejected notifications one
	// client address may send per minute before it is answered 429 and
	// nothing more of it is stored (0: no limit).
	PaymentRejectedRateLimit int
	// PaymentRejectedStoreLimit is how many rejected notifications are
	// stored per hour, from all addresses together; past it they are
	// still answered but not stored (0: no limit).
	PaymentRejectedStoreLimit int

	BookingExpiryMinutes int
	// BookingMaxQuantity is the most seats one booking may take
	// (0: no limit).
	BookingMaxQuantity int

	// Fair use and secrets (issue 13, part C).

	// BookingMaxPendingPerUser is how many pending bookings one customer
	// may hold at once (0: no limit).
	BookingMaxPendingPerUser int
	// BookingRateLimit is how many bookings one customer may create per
	// minute (0: no limit).
	BookingRateLimit int
	// AppKey (APP_KEY) signs the links that open without a login: the
	// e-ticket and payment simulator links.
	AppKey string
	// AppKeyEphemeral is true when no APP_KEY was configured and AppKey is
	// a random key that lives as long as the process.
	AppKeyEphemeral bool

	// Accounts and sessions (issue 13, part A); see accounts.go.

	// AuthTokenTTL is how long an API token authenticates after the login
	// or registration that issued it (absolute, not sliding).
	AuthTokenTTL time.Duration
	// LoginRateLimit is how many login attempts one account may receive
	// per minute, counted before the password is checked (0: no limit).
	LoginRateLimit int
	// LoginIPRateLimit is how many login attempts one client address may
	// make per minute over all accounts (0: no limit).
	LoginIPRateLimit int
	// RegisterRateLimit is how many accounts one client address may
	// register per hour (0: no limit).
	RegisterRateLimit int
	// TrustedProxies are the networks of the reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed; empty trusts none.
	TrustedProxies []netip.Prefix

	NotifySlackWebhookURL   string
	NotifyDiscordWebhookURL string
	// NotifyWindow is the shortest time between two messages on one
	// channel; the events of a window are summarised in one message.
	NotifyWindow time.Duration
	// QueueWaitThresholds maps queue names to the longest their oldest
	// pending job may wait before operators are told ("*" for every
	// queue not named; 0 turns a queue's check off).
	QueueWaitThresholds map[string]time.Duration
	// QueueMonitorMax is the number of jobs a queue may hold before
	// operators are told (0: never).
	QueueMonitorMax int

	// Retention is how long each kind of record is kept before the
	// scheduled prune deletes it.
	Retention Retention

	LogLevel string
	// LogFormat is the format of the log lines on standard output: json,
	// text, or auto (JSON unless standard output is a terminal).
	LogFormat string
	LogFile   string

	HTTPAddr        string
	HTTPMaxBodySize int64

	// appNameSet is whether APP_NAME was configured: the emails then sign
	// with it instead of MAIL_FROM_NAME.
	appNameSet bool
	// warnings are what Load found suspicious but not wrong (Warnings).
	warnings []string
}

// secretKeys are never printed by Dump, and their values are scrubbed from
// errors that name them.
var secretKeys = map[string]bool{
	"DB_PASSWORD": true, "DB_URL": true, "REDIS_URL": true, "REDIS_PASSWORD": true, "MAIL_PASSWORD": true,
	"MIDTRANS_SERVER_KEY": true, "APP_KEY": true, "NOTIFY_SLACK_WEBHOOK_URL": true, "NOTIFY_DISCORD_WEBHOOK_URL": true,
}

// Keys lists every configuration key Tripin reads, in the order of
// .env.example; the retention keys come last.
var Keys = append([]string{
	"APP_NAME", "APP_ENV", "APP_DEBUG", "APP_URL", "APP_TIMEZONE", "APP_LOCALE",
	"DB_CONNECTION", "DB_DATABASE", "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD", "DB_URL",
	"QUEUE_CONNECTION", "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB",
	"REDIS_QUEUE_PREFIX", "DB_QUEUE_RETRY_AFTER",
	"QUEUE_KEEP_COMPLETED", "QUEUE_MONITORED_KEEP",
	"MAIL_MAILER", "MAIL_SCHEME", "MAIL_HOST", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_ENCRYPTION",
	"MAIL_FROM_ADDRESS", "MAIL_FROM_NAME", "MAIL_TEMPLATES_DIR",
	"MIDTRANS_SERVER_KEY", "MIDTRANS_CLIENT_KEY", "MIDTRANS_IS_PRODUCTION", "MIDTRANS_SNAP_URL",
	"MIDTRANS_API_URL", "MIDTRANS_VERIFY_STATUS",
	// Payments (issue 13, part B).
	"PAYMENT_SIMULATOR", "PAYMENT_REJECTED_RATE_LIMIT", "PAYMENT_REJECTED_STORE_LIMIT",
	"BOOKING_EXPIRY_MINUTES", "BOOKING_MAX_QUANTITY",
	// Accounts and sessions (issue 13, part A).
	"AUTH_TOKEN_TTL", "LOGIN_RATE_LIMIT", "LOGIN_IP_RATE_LIMIT", "REGISTER_RATE_LIMIT", "TRUSTED_PROXIES",
	"NOTIFY_SLACK_WEBHOOK_URL", "NOTIFY_DISCORD_WEBHOOK_URL", "NOTIFY_WINDOW",
	"QUEUE_WAIT_THRESHOLDS", "QUEUE_MONITOR_MAX",
	"LOG_LEVEL", "LOG_FORMAT", "LOG_FILE", "HTTP_ADDR", "HTTP_MAX_BODY_BYTES",
}, append(retentionKeyNames(), securityKeyNames()...)...)

// Error is a configuration error naming the offending key.
type Error struct {
	Key    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Key, e.Reason) }

// Load reads envFile (ignored when it does not exist) and then the process
// environment, and returns the validated configuration.
//
// Unknown keys that look like misspelt ones, in the file or the environment,
// do not stop the process: they are reported by Warnings.
func Load(envFile string) (*Config, error) {
	vals := map[string]string{}
	origin := map[string]string{}
	if envFile != "" {
		fileVals, err := godotenv.Read(envFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config: read %s: %w", envFile, err)
		}
		for k, v := range fileVals {
			vals[k] = v
			origin[k] = envFile
		}
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		// Only Tripin's keys are taken; other names that look like
		// Tripin's are kept for the misspelling check, which ignores
		// everything else.
		if knownKeys[k] || hasKnownPrefix(k) {
			vals[k] = v
			origin[k] = "the environment"
		}
	}
	return parse(&parser{vals: vals, origin: origin})
}

// FromMap builds a configuration from explicit values, applying defaults and
// validation. Tests use it to build configurations without touching the
// environment.
func FromMap(vals map[string]string) (*Config, error) {
	return parse(&parser{vals: vals})
}

// parse reads every key through p.
func parse(p *parser) (*Config, error) {
	c := &Config{}
	p.partial = c
	c.AppName = p.str("APP_NAME", DefaultAppName)
	c.appNameSet = p.str("APP_NAME", "") != ""
	c.AppEnv = p.oneOf("APP_ENV", "local", "local", "staging", "production", "testing")
	c.AppDebug = p.bool("APP_DEBUG", c.AppEnv == "local")
	c.AppURL = p.url("APP_URL", "http://localhost:8080")
	tzName := p.str("APP_TIMEZONE", "Asia/Jakarta")
	if loc, err := time.LoadLocation(tzName); err != nil {
		p.fail("APP_TIMEZONE", fmt.Sprintf("unknown time zone %q", tzName))
	} else {
		c.AppTimezone = loc
	}
	c.AppLocale = p.oneOf("APP_LOCALE", i18n.Default, i18n.Tags()...)

	c.DBConnection = p.oneOf("DB_CONNECTION", "sqlite", "sqlite", "mysql", "mariadb", "pgsql")
	if c.DBConnection == "mariadb" {
		// Laravel 11 names MariaDB apart; Tripin's MySQL dialect, DSNs
		// and migrations serve both.
		c.DBConnection = "mysql"
	}
	defaultDB := "storage/tripin.db"
	if c.DBConnection != "sqlite" {
		defaultDB = "tripin"
	}
	c.DBDatabase = p.str("DB_DATABASE", defaultDB)
	c.DBHost = p.str("DB_HOST", "127.0.0.1")
	defaultPort := 0
	switch c.DBConnection {
	case "mysql":
		defaultPort = 3306
	case "pgsql":
		defaultPort = 5432
	}
	c.DBPort = p.intRange("DB_PORT", defaultPort, 0, 65535)
	c.DBUsername = p.str("DB_USERNAME", "")
	c.DBPassword = p.str("DB_PASSWORD", "")
	c.DBURL = p.str("DB_URL", "")

	c.QueueConnection = p.oneOf("QUEUE_CONNECTION", "database", "sync", "database", "redis")
	p.redis(c)
	c.RedisQueuePrefix = p.str("REDIS_QUEUE_PREFIX", "tripin:queue:")
	if c.RedisQueuePrefix == "" || strings.ContainsAny(c.RedisQueuePrefix, " \t\r\n*?[]") {
		p.fail("REDIS_QUEUE_PREFIX", "must be non-empty, without spaces or glob characters (* ? [ ])")
	}
	c.DBQueueRetryAfter = time.Duration(p.intRange("DB_QUEUE_RETRY_AFTER", 90, 1, 86400*7)) * time.Second

	c.MailMailer = p.oneOf("MAIL_MAILER", "log", "smtp", "log")
	c.MailHost = p.str("MAIL_HOST", "127.0.0.1")
	c.MailPort = p.intRange("MAIL_PORT", 587, 1, 65535)
	c.MailUsername = p.str("MAIL_USERNAME", "")
	c.MailPassword = p.str("MAIL_PASSWORD", "")
	p.mailEncryption(c)
	c.MailFromAddress = p.str("MAIL_FROM_ADDRESS", "noreply@tripintravel.com")
	if !strings.Contains(c.MailFromAddress, "@") {
		p.fail("MAIL_FROM_ADDRESS", "must be an email address")
	}
	// As Laravel's MAIL_FROM_NAME="${APP_NAME}": the sender is the
	// application's name unless named apart.
	defaultFromName := DefaultMailFromName
	if c.appNameSet {
		defaultFromName = c.AppName
	}
	c.MailFromName = p.str("MAIL_FROM_NAME", defaultFromName)
	c.MailTemplatesDir = p.str("MAIL_TEMPLATES_DIR", "")

	c.MidtransServerKey = p.str("MIDTRANS_SERVER_KEY", "")
	c.MidtransClientKey = p.str("MIDTRANS_CLIENT_KEY", "")
	c.MidtransIsProduction = p.bool("MIDTRANS_IS_PRODUCTION", false)
	snap, api := "https://app.sandbox.midtrans.com", "https://api.sandbox.midtrans.com"
	if c.MidtransIsProduction {
		snap, api = "https://app.midtrans.com", "https://api.midtrans.com"
	}
	c.MidtransSnapURL = p.url("MIDTRANS_SNAP_URL", snap)
	c.MidtransAPIURL = p.url("MIDTRANS_API_URL", api)
	// A notification's signature does not cover transaction_status, so
	// every notification is confirmed with the Status API unless an
	// operator turns it off (an escape hatch for a Midtrans outage).
	c.MidtransVerifyStatus = p.bool("MIDTRANS_VERIFY_STATUS", true)
	// A missing server key is refused by the commands that take payments
	// or run their jobs (RequireMidtrans), not here: `migrate`, `db …`,
	// `queue …` and `schedule list` run without it.

	// Payments (issue 13, part B).
	c.PaymentSimulator = p.paymentSimulator(c)
	c.PaymentRejectedRateLimit = p.intRange("PAYMENT_REJECTED_RATE_LIMIT", DefaultPaymentRejectedRateLimit, 0, 1_000_000)
	c.PaymentRejectedStoreLimit = p.intRange("PAYMENT_REJECTED_STORE_LIMIT", DefaultPaymentRejectedStoreLimit, 0, 1_000_000)

	// A payment page needs at least a minute of hold left, so the hold is at
	// least two minutes.
	c.BookingExpiryMinutes = p.intRange("BOOKING_EXPIRY_MINUTES", 30, 2, 7*24*60)
	c.BookingMaxQuantity = p.intRange("BOOKING_MAX_QUANTITY", DefaultBookingMaxQuantity, 0, 1000)
	// Fair use and secrets (issue 13, part C).
	p.fairUse(c)

	// Accounts and sessions (issue 13, part A).
	p.accounts(c)

	c.NotifySlackWebhookURL = p.optionalURL("NOTIFY_SLACK_WEBHOOK_URL")
	c.NotifyDiscordWebhookURL = p.optionalURL("NOTIFY_DISCORD_WEBHOOK_URL")
	c.NotifyWindow = time.Duration(p.intRange("NOTIFY_WINDOW", 60, 1, 86400)) * time.Second
	c.QueueWaitThresholds = p.waitThresholds("QUEUE_WAIT_THRESHOLDS", DefaultQueueWaitThresholds)
	c.QueueMonitorMax = p.intRange("QUEUE_MONITOR_MAX", 1000, 0, 1_000_000_000)
	c.Retention = p.retention(c.DBQueueRetryAfter)
	p.jobHistory(c)

	c.LogLevel = p.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "warning", "error")
	c.LogFormat = p.oneOf("LOG_FORMAT", "auto", "json", "text", "auto")
	c.LogFile = p.str("LOG_FILE", "storage/logs/tripin.log")
	c.HTTPAddr = p.str("HTTP_ADDR", ":8080")
	c.HTTPMaxBodySize = int64(p.intRange("HTTP_MAX_BODY_BYTES", 1<<20, 1024, 64<<20))
	// Last, so that a production configuration's other errors are told
	// first.
	p.appKey(c)

	if p.err != nil {
		return nil, p.err
	}
	c.warnings = append(p.warnings, misspeltKeys(p.vals, p.origin)...)
	return c, nil
}

// BookingExpiry is how long a pending booking holds its seats.
func (c *Config) BookingExpiry() time.Duration {
	return time.Duration(c.BookingExpiryMinutes) * time.Minute
}

// IsProduction reports whether APP_ENV=production.
func (c *Config) IsProduction() bool { return c.AppEnv == "production" }

// SimulatorEnabled reports whether the payment simulator may answer
// (PAYMENT_SIMULATOR): in local mode by default, elsewhere only when asked
// for with sandbox keys, and never in production or against Midtrans'
// production endpoints.
func (c *Config) SimulatorEnabled() bool { return c.PaymentSimulator }

// RequireMidtrans refuses a production configuration without a Midtrans
// server key. The commands that take payments or run the jobs that call
// Midtrans (serve, queue work, the scheduler) call it; the others run
// without Midtrans settings.
func (c *Config) RequireMidtrans() error {
	if c.AppEnv == "production" && c.MidtransServerKey == "" {
		return &Error{Key: "MIDTRANS_SERVER_KEY", Reason: "is required when APP_ENV=production"}
	}
	return nil
}

// The defaults of the payment keys (issue 13, part B).
const (
	// DefaultPaymentRejectedRateLimit lets a client address send 30
	// rejected notifications a minute: far more than a misconfigured but
	// honest sender needs to be noticed, far fewer than a flood.
	DefaultPaymentRejectedRateLimit = 30
	// DefaultPaymentRejectedStoreLimit stores at most 500 rejected
	// notifications an hour: with the 3-day retention of rejected ones,
	// at most 36,000 rows of about 1.5 KiB each (about 50 MiB).
	DefaultPaymentRejectedStoreLimit = 500
)

// sandboxServerKeyPrefix starts every Midtrans sandbox server key;
// production keys start with "Mid-server-".
const sandboxServerKeyPrefix = "SB-"

// paymentSimulator reads PAYMENT_SIMULATOR. Unset, the simulator is on in
// local mode only. Set to true, it must be safe: the simulator marks
// bookings paid without any money moving, so it is refused at start in
// production, against Midtrans' production endpoints, and outside local
// mode with anything but a sandbox server key.
func (p *parser) paymentSimulator(c *Config) bool {
	const key = "PAYMENT_SIMULATOR"
	safe := ""
	switch {
	case c.IsProduction():
		safe = "must not be true when APP_ENV=production: the simulator marks bookings paid without a payment"
	case c.MidtransIsProduction:
		safe = "must not be true when MIDTRANS_IS_PRODUCTION=true: the simulator marks bookings paid without a payment"
	case c.MidtransServerKey != "" && !strings.HasPrefix(c.MidtransServerKey, sandboxServerKeyPrefix):
		safe = "needs a Midtrans sandbox server key (SB-Mid-server-…)"
	case c.AppEnv != "local" && c.MidtransServerKey == "":
		safe = "needs Midtrans sandbox keys outside APP_ENV=local: set MIDTRANS_SERVER_KEY to an SB-Mid-server-… key"
	}
	if p.str(key, "") == "" {
		return c.AppEnv == "local" && safe == ""
	}
	on := p.bool(key, false)
	if on && safe != "" {
		p.fail(key, safe)
		return false
	}
	return on
}

// Dump returns every key with its effective value, secrets masked, sorted by
// key. It is what `tripin config` style diagnostics may print.
func (c *Config) Dump() []string {
	vals := map[string]string{
		"APP_NAME": c.AppName, "APP_ENV": c.AppEnv, "APP_DEBUG": strconv.FormatBool(c.AppDebug), "APP_URL": c.AppURL,
		"APP_TIMEZONE": c.AppTimezone.String(), "APP_LOCALE": c.AppLocale, "DB_CONNECTION": c.DBConnection, "DB_DATABASE": c.DBDatabase,
		"DB_HOST": c.DBHost, "DB_PORT": strconv.Itoa(c.DBPort), "DB_USERNAME": c.DBUsername,
		"DB_PASSWORD": c.DBPassword, "DB_URL": c.DBURL, "QUEUE_CONNECTION": c.QueueConnection,
		"REDIS_URL": c.RedisURL, "REDIS_HOST": c.RedisHost, "REDIS_PORT": strconv.Itoa(c.RedisPort),
		"REDIS_PASSWORD": c.RedisPassword, "REDIS_DB": strconv.Itoa(c.RedisDB), "REDIS_QUEUE_PREFIX": c.RedisQueuePrefix, "DB_QUEUE_RETRY_AFTER": strconv.Itoa(int(c.DBQueueRetryAfter.Seconds())),
		"MAIL_MAILER": c.MailMailer, "MAIL_HOST": c.MailHost, "MAIL_PORT": strconv.Itoa(c.MailPort),
		"MAIL_USERNAME": c.MailUsername, "MAIL_PASSWORD": c.MailPassword, "MAIL_ENCRYPTION": c.MailEncryption, "MAIL_SCHEME": c.MailScheme,
		"MAIL_FROM_ADDRESS": c.MailFromAddress, "MAIL_FROM_NAME": c.MailFromName, "MAIL_TEMPLATES_DIR": c.MailTemplatesDir,
		"MIDTRANS_SERVER_KEY": c.MidtransServerKey, "MIDTRANS_CLIENT_KEY": c.MidtransClientKey,
		"MIDTRANS_IS_PRODUCTION": strconv.FormatBool(c.MidtransIsProduction), "MIDTRANS_SNAP_URL": c.MidtransSnapURL,
		"MIDTRANS_API_URL": c.MidtransAPIURL, "MIDTRANS_VERIFY_STATUS": strconv.FormatBool(c.MidtransVerifyStatus),
		"BOOKING_EXPIRY_MINUTES": strconv.Itoa(c.BookingExpiryMinutes), "BOOKING_MAX_QUANTITY": strconv.Itoa(c.BookingMaxQuantity),
		"NOTIFY_SLACK_WEBHOOK_URL": c.NotifySlackWebhookURL, "NOTIFY_DISCORD_WEBHOOK_URL": c.NotifyDiscordWebhookURL,
		"NOTIFY_WINDOW": strconv.Itoa(int(c.NotifyWindow.Seconds())), "QUEUE_MONITOR_MAX": strconv.Itoa(c.QueueMonitorMax),
		"QUEUE_WAIT_THRESHOLDS": FormatWaitThresholds(c.QueueWaitThresholds), "LOG_LEVEL": c.LogLevel, "LOG_FORMAT": c.LogFormat,
		"LOG_FILE": c.LogFile, "HTTP_ADDR": c.HTTPAddr,
		"HTTP_MAX_BODY_BYTES": strconv.FormatInt(c.HTTPMaxBodySize, 10),
	}
	c.Retention.dump(vals)
	c.dumpJobHistory(vals)
	// Payments (issue 13, part B).
	vals["PAYMENT_SIMULATOR"] = strconv.FormatBool(c.PaymentSimulator)
	vals["PAYMENT_REJECTED_RATE_LIMIT"] = strconv.Itoa(c.PaymentRejectedRateLimit)
	vals["PAYMENT_REJECTED_STORE_LIMIT"] = strconv.Itoa(c.PaymentRejectedStoreLimit)
	// Accounts and sessions (issue 13, part A).
	c.dumpAccounts(vals)
	// Fair use and secrets (issue 13, part C).
	c.dumpSecurity(vals)
	out := make([]string, 0, len(vals))
	for k, v := range vals {
		if secretKeys[k] && v != "" {
			v = "********"
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// NotificationsEnabled reports whether at least one notification channel
// (a Slack or Discord webhook) is configured.
func (c *Config) NotificationsEnabled() bool {
	return c.NotifySlackWebhookURL != "" || c.NotifyDiscordWebhookURL != ""
}

// WaitThreshold returns how long the oldest pending job of queue may wait
// before operators are told: the queue's own entry in
// QUEUE_WAIT_THRESHOLDS, else the "*" entry; 0 means never.
func (c *Config) WaitThreshold(queue string) time.Duration {
	if d, ok := c.QueueWaitThresholds[queue]; ok {
		return d
	}
	return c.QueueWaitThresholds["*"]
}

// Secrets returns the non-empty secret values, so that loggers and error
// renderers can scrub them: the passwords (DB_PASSWORD, MAIL_PASSWORD,
// REDIS_PASSWORD and those inside DB_URL and REDIS_URL), the Midtrans server key, APP_KEY and
// the webhook URLs. Values shorter than four characters are left out:
// they would scrub ordinary words out of messages.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.DBPassword, c.MailPassword, c.RedisPassword, c.MidtransServerKey, c.NotifySlackWebhookURL, c.NotifyDiscordWebhookURL,
		c.configuredAppKey(), urlPassword(c.DBURL), urlPassword(c.RedisURL)} {
		if len(s) >= 4 {
			out = append(out, s)
		}
	}
	return out
}

type parser struct {
	vals map[string]string
	// origin says where each key of vals came from (a file name or "the
	// environment"), for warnings; FromMap leaves it empty.
	origin   map[string]string
	err      error
	warnings []string
	// read records every key asked for, so a test can check that Keys,
	// the list Load takes from the environment, names them all.
	read map[string]bool
	// partial and errs serve Diagnose: the configuration as parsed so
	// far (a failing key keeps its default) and every error, not only
	// the first.
	partial *Config
	errs    []*Error
}

func (p *parser) fail(key, reason string) {
	p.errs = append(p.errs, &Error{Key: key, Reason: reason})
	if p.err == nil {
		p.err = p.errs[0]
	}
}

func (p *parser) str(key, def string) string {
	if p.read != nil {
		p.read[key] = true
	}
	if v, ok := p.vals[key]; ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (p *parser) oneOf(key, def string, allowed ...string) string {
	v := strings.ToLower(p.str(key, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(key, fmt.Sprintf("must be one of %s", strings.Join(nonEmpty(allowed), ", ")))
	return def
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) bool(key string, def bool) bool {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	p.fail(key, "must be true or false")
	return def
}

func (p *parser) intRange(key string, def, min, max int) int {
	v := p.str(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(key, "must be a whole number")
		return def
	}
	if n < min || n > max {
		p.fail(key, fmt.Sprintf("must be between %d and %d", min, max))
		return def
	}
	return n
}

func (p *parser) url(key, def string) string {
	v := p.str(key, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(key, "must be an http:// or https:// URL")
		return def
	}
	return strings.TrimRight(v, "/")
}

// DefaultQueueWaitThresholds is QUEUE_WAIT_THRESHOLDS when unset: every
// queue may keep its oldest job waiting five minutes. That is long enough
// for a worker restart or a burst of emails, and short enough that a
// stopped worker is noticed before customers do.
const DefaultQueueWaitThresholds = "*:300"

// maxWaitThreshold bounds one entry of QUEUE_WAIT_THRESHOLDS (a week).
const maxWaitThreshold = 7 * 86400

// waitThresholds parses "queue:seconds" entries separated by commas, such
// as "default:60,emails:120,*:300". "*" stands for every queue not named.
// An optional connection prefix, as Horizon spells its waits
// ("database:default:60"), is accepted and dropped: there is one queue
// connection per process.
func (p *parser) waitThresholds(key, def string) map[string]time.Duration {
	out, reason := ParseWaitThresholds(p.str(key, def))
	if reason != "" {
		p.fail(key, reason)
		out, _ = ParseWaitThresholds(def)
	}
	return out
}

// ParseWaitThresholds parses a QUEUE_WAIT_THRESHOLDS value. On a bad value
// it returns the reason, to be reported with the key.
func ParseWaitThresholds(s string) (map[string]time.Duration, string) {
	out := map[string]time.Duration{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndexByte(entry, ':')
		if i <= 0 {
			return nil, fmt.Sprintf("entry %q: want queue:seconds, as in default:60,emails:120,*:300", entry)
		}
		name, secs := strings.TrimSpace(entry[:i]), strings.TrimSpace(entry[i+1:])
		for _, conn := range []string{"database:", "redis:", "sync:"} {
			name = strings.TrimPrefix(name, conn)
		}
		if name == "" || strings.ContainsAny(name, ": \t") {
			return nil, fmt.Sprintf("entry %q: bad queue name", entry)
		}
		n, err := strconv.Atoi(secs)
		if err != nil || n < 0 || n > maxWaitThreshold {
			return nil, fmt.Sprintf("entry %q: seconds must be a whole number between 0 and %d", entry, maxWaitThreshold)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Sprintf("queue %q is listed twice", name)
		}
		out[name] = time.Duration(n) * time.Second
	}
	return out, ""
}

// FormatWaitThresholds renders thresholds as QUEUE_WAIT_THRESHOLDS spells
// them, queues sorted by name and "*" last.
func FormatWaitThresholds(m map[string]time.Duration) string {
	names := make([]string, 0, len(m))
	for q := range m {
		if q != "*" {
			names = append(names, q)
		}
	}
	sort.Strings(names)
	if _, ok := m["*"]; ok {
		names = append(names, "*")
	}
	parts := make([]string, len(names))
	for i, q := range names {
		parts[i] = q + ":" + strconv.Itoa(int(m[q]/time.Second))
	}
	return strings.Join(parts, ",")
}

func (p *parser) optionalURL(key string) string {
	if p.str(key, "") == "" {
		return ""
	}
	return p.url(key, "")
}

// DefaultAppName is APP_NAME when unset.
const DefaultAppName = "Tripin"

// DefaultMailFromName is MAIL_FROM_NAME when neither it nor APP_NAME is
// set: the name the emails have always been signed with.
const DefaultMailFromName = "Tripin Travel"

// Name returns APP_NAME, the name shown on pages and in operators'
// messages; "Tripin" for a Config without one.
func (c *Config) Name() string {
	if c.AppName == "" {
		return DefaultAppName
	}
	return c.AppName
}

// MailAppName returns the name the emails speak in: APP_NAME when it is
// configured, else MAIL_FROM_NAME (whose default is "Tripin Travel").
func (c *Config) MailAppName() string {
	if c.appNameSet || c.MailFromName == "" {
		return c.Name()
	}
	return c.MailFromName
}

// isSet reports whether key has a non-blank value.
func (p *parser) isSet(key string) bool { return strings.TrimSpace(p.vals[key]) != "" }
