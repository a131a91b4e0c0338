package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "local", c.AppEnv)
	require.Equal(t, "Asia/Jakarta", c.AppTimezone.String())
	require.Equal(t, "sqlite", c.DBConnection)
	require.Equal(t, "storage/tripin.db", c.DBDatabase)
	require.Equal(t, "database", c.QueueConnection)
	require.Equal(t, 90*time.Second, c.DBQueueRetryAfter)
	require.Equal(t, 30, c.BookingExpiryMinutes)
	require.Equal(t, "storage/logs/tripin.log", c.LogFile)
	require.Equal(t, "https://app.sandbox.midtrans.com", c.MidtransSnapURL)
	require.True(t, c.SimulatorEnabled())
}

func TestMySQLDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{"DB_CONNECTION": "mysql"})
	require.NoError(t, err)
	require.Equal(t, 3306, c.DBPort)
	require.Equal(t, "tripin", c.DBDatabase)
}

func TestInvalidValuesNameTheKey(t *testing.T) {
	cases := map[string]map[string]string{
		"APP_ENV":                  {"APP_ENV": "development"},
		"APP_TIMEZONE":             {"APP_TIMEZONE": "Mars/Olympus"},
		"DB_CONNECTION":            {"DB_CONNECTION": "oracle"},
		"DB_PORT":                  {"DB_PORT": "abc"},
		"QUEUE_CONNECTION":         {"QUEUE_CONNECTION": "sqs"},
		"DB_QUEUE_RETRY_AFTER":     {"DB_QUEUE_RETRY_AFTER": "0"},
		"MAIL_ENCRYPTION":          {"MAIL_ENCRYPTION": "starttls"},
		"BOOKING_EXPIRY_MINUTES":   {"BOOKING_EXPIRY_MINUTES": "-5"},
		"APP_URL":                  {"APP_URL": "localhost"},
		"REDIS_URL":                {"QUEUE_CONNECTION": "redis", "REDIS_URL": "http://x"},
		"REDIS_QUEUE_PREFIX":       {"REDIS_QUEUE_PREFIX": "tripin:*"},
		"APP_DEBUG":                {"APP_DEBUG": "maybe"},
		"NOTIFY_WINDOW":            {"NOTIFY_WINDOW": "0"},
		"QUEUE_WAIT_THRESHOLDS":    {"QUEUE_WAIT_THRESHOLDS": "emails=120"},
		"QUEUE_MONITOR_MAX":        {"QUEUE_MONITOR_MAX": "-1"},
		"NOTIFY_SLACK_WEBHOOK_URL": {"NOTIFY_SLACK_WEBHOOK_URL": "hooks.slack.com/services/x"},
	}
	for key, vals := range cases {
		t.Run(key, func(t *testing.T) {
			_, err := FromMap(vals)
			require.Error(t, err)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, key, ce.Key)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// TestMidtransRequiredOnlyWhereUsed: a production configuration without a
// Midtrans server key loads (migrate, db and queue commands need none),
// and RequireMidtrans, which the commands that take payments call,
// refuses it naming the key.
func TestMidtransRequiredOnlyWhereUsed(t *testing.T) {
	vals := map[string]string{"APP_ENV": "production", "APP_KEY": "base64:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGVzIQ==", "APP_URL": "https://tripin.example"}
	c, err := FromMap(vals)
	require.NoError(t, err)
	err = c.RequireMidtrans()
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "MIDTRANS_SERVER_KEY", ce.Key)
	vals["MIDTRANS_SERVER_KEY"] = "Mid-server-live"
	c, err = FromMap(vals)
	require.NoError(t, err)
	require.NoError(t, c.RequireMidtrans())
	c, err = FromMap(map[string]string{"APP_ENV": "staging", "APP_KEY": vals["APP_KEY"]})
	require.NoError(t, err)
	require.NoError(t, c.RequireMidtrans(), "outside production a worker runs without keys")
}

func TestNotificationDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, time.Minute, c.NotifyWindow)
	require.Equal(t, 1000, c.QueueMonitorMax)
	require.Equal(t, 5*time.Minute, c.WaitThreshold("emails"))
	require.False(t, c.NotificationsEnabled())

	c, err = FromMap(map[string]string{
		"NOTIFY_WINDOW": "30", "QUEUE_MONITOR_MAX": "0", "NOTIFY_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc",
		"QUEUE_WAIT_THRESHOLDS": " default:60, database:emails:120 ,notifications:0",
	})
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, c.NotifyWindow)
	require.Equal(t, 0, c.QueueMonitorMax)
	require.True(t, c.NotificationsEnabled())
	require.Equal(t, time.Minute, c.WaitThreshold("default"))
	require.Equal(t, 2*time.Minute, c.WaitThreshold("emails"))
	require.Equal(t, time.Duration(0), c.WaitThreshold("notifications"))
	require.Equal(t, time.Duration(0), c.WaitThreshold("reports"), "a list without * leaves other queues unchecked")
	require.Contains(t, c.Dump(), "QUEUE_WAIT_THRESHOLDS=default:60,emails:120,notifications:0")
	require.Contains(t, c.Dump(), "NOTIFY_DISCORD_WEBHOOK_URL=********")
}

func TestWaitThresholdErrors(t *testing.T) {
	for in, want := range map[string]string{
		"emails":              `entry "emails": want queue:seconds`,
		"emails:2m":           `entry "emails:2m": seconds must be a whole number`,
		"emails:-1":           `entry "emails:-1": seconds must be a whole number`,
		":60":                 `entry ":60": want queue:seconds`,
		"emails:60,emails:90": `queue "emails" is listed twice`,
		"my queue:60":         `bad queue name`,
	} {
		_, err := FromMap(map[string]string{"QUEUE_WAIT_THRESHOLDS": in})
		var ce *Error
		require.ErrorAs(t, err, &ce, in)
		require.Equal(t, "QUEUE_WAIT_THRESHOLDS", ce.Key)
		require.Contains(t, ce.Reason, want, in)
	}
	m, reason := ParseWaitThresholds("*:300,default:60")
	require.Empty(t, reason)
	require.Equal(t, "default:60,*:300", FormatWaitThresholds(m))
}

func TestDumpMasksSecrets(t *testing.T) {
	c, err := FromMap(map[string]string{
		"DB_PASSWORD": "hunter22", "MAIL_PASSWORD": "smtp-secret", "MIDTRANS_SERVER_KEY": "SB-Mid-server-abc",
	})
	require.NoError(t, err)
	dump := strings.Join(c.Dump(), "\n")
	for _, s := range []string{"hunter22", "smtp-secret", "SB-Mid-server-abc"} {
		require.NotContains(t, dump, s)
	}
	require.Contains(t, dump, "DB_PASSWORD=********")
	require.ElementsMatch(t, []string{"hunter22", "smtp-secret", "SB-Mid-server-abc"}, c.Secrets())
}

func TestLoadEnvFileThenEnvironmentWins(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(f, []byte("BOOKING_EXPIRY_MINUTES=15\nMAIL_FROM_NAME=\"Tripin Travel\"\nLOG_LEVEL=debug\n"), 0o600))
	t.Setenv("LOG_LEVEL", "error")
	c, err := Load(f)
	require.NoError(t, err)
	require.Equal(t, 15, c.BookingExpiryMinutes)
	require.Equal(t, "Tripin Travel", c.MailFromName)
	require.Equal(t, "error", c.LogLevel)

	_, err = Load(filepath.Join(dir, "missing.env"))
	require.NoError(t, err, "a missing .env is not an error")
}

func TestEveryKeyIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../.env.example")
	require.NoError(t, err)
	for _, k := range Keys {
		require.Contains(t, string(b), "\n"+k+"=", "key %s missing from .env.example", k)
	}
}

// TestEveryKeyReadIsLoaded: every key the parser reads is in Keys, or Load
// would never take it from the process environment.
func TestEveryKeyReadIsLoaded(t *testing.T) {
	p := &parser{vals: map[string]string{}, read: map[string]bool{}}
	parse(p)
	require.NotEmpty(t, p.read)
	for k := range p.read {
		require.Contains(t, Keys, k, "key %s is read but not listed in Keys", k)
	}
}

func TestRetentionDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	const day = 24 * time.Hour
	require.Equal(t, Retention{
		// Completed jobs: QUEUE_KEEP_COMPLETED's hour (jobhistory.go).
		FailedJobs: 7 * day, Batches: 7 * day, CompletedJobs: time.Hour, JobMetrics: 30 * day,
		QueueProcesses: time.Hour, IdempotencyKeys: day, SentEmails: 90 * day,
		PaymentNotifications: 365 * day, RejectedPaymentNotifications: 3 * day,
		OpsNotifications: 30 * day, ScheduleRuns: 30 * day, ExpiredTokens: day, RateLimits: time.Hour, ChunkSize: 1000,
	}, c.Retention)
	require.Less(t, c.Retention.RejectedPaymentNotifications, c.Retention.PaymentNotifications,
		"rejected notifications go sooner than the accepted ones")
	dump := c.Dump()
	require.Contains(t, dump, "QUEUE_FAILED_RETENTION_HOURS=168")
	require.Contains(t, dump, "PAYMENT_NOTIFICATIONS_RETENTION_DAYS=365")
	require.Contains(t, dump, "QUEUE_PROCESSES_RETENTION_MINUTES=60")
	require.Contains(t, dump, "RETENTION_CHUNK_SIZE=1000")
}

func TestRetentionValues(t *testing.T) {
	c, err := FromMap(map[string]string{
		"QUEUE_FAILED_RETENTION_HOURS": "0", "SENT_EMAILS_RETENTION_DAYS": "0",
		"QUEUE_METRICS_RETENTION_DAYS": " 14 ", "IDEMPOTENCY_KEYS_RETENTION_HOURS": "0",
		"QUEUE_PROCESSES_RETENTION_MINUTES": "5", "SCHEDULE_RUNS_RETENTION_DAYS": "2",
		"PAYMENT_REJECTED_NOTIFICATIONS_RETENTION_DAYS": "1", "RETENTION_CHUNK_SIZE": "5000",
	})
	require.NoError(t, err)
	r := c.Retention
	require.Zero(t, r.FailedJobs, "0 keeps failed jobs forever")
	require.Zero(t, r.SentEmails)
	require.Zero(t, r.IdempotencyKeys)
	require.Equal(t, 14*24*time.Hour, r.JobMetrics)
	require.Equal(t, 5*time.Minute, r.QueueProcesses)
	require.Equal(t, 48*time.Hour, r.ScheduleRuns)
	require.Equal(t, 24*time.Hour, r.RejectedPaymentNotifications)
	require.Equal(t, 5000, r.ChunkSize)
	require.Contains(t, c.Dump(), "QUEUE_FAILED_RETENTION_HOURS=0")
}

func TestRetentionErrors(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]string
		key  string
		want string
	}{
		{map[string]string{"QUEUE_FAILED_RETENTION_HOURS": "7d"}, "QUEUE_FAILED_RETENTION_HOURS", "must be a whole number of hours, or 0 to keep forever"},
		{map[string]string{"QUEUE_FAILED_RETENTION_HOURS": "-1"}, "QUEUE_FAILED_RETENTION_HOURS", "must be between 1 and 87600 hours, or 0 to keep forever"},
		{map[string]string{"PAYMENT_NOTIFICATIONS_RETENTION_DAYS": "4000"}, "PAYMENT_NOTIFICATIONS_RETENTION_DAYS", "between 1 and 3650 days"},
		{map[string]string{"QUEUE_PROCESSES_RETENTION_MINUTES": "1"}, "QUEUE_PROCESSES_RETENTION_MINUTES", "between 5 and"},
		{map[string]string{"SCHEDULE_RUNS_RETENTION_DAYS": "0"}, "SCHEDULE_RUNS_RETENTION_DAYS", "between 1 and 30 days (the scheduler trims"},
		{map[string]string{"SCHEDULE_RUNS_RETENTION_DAYS": "31"}, "SCHEDULE_RUNS_RETENTION_DAYS", "between 1 and 30 days"},
		{map[string]string{"RETENTION_CHUNK_SIZE": "10"}, "RETENTION_CHUNK_SIZE", "between 100 and 10000"},
		{map[string]string{"SENT_EMAILS_RETENTION_DAYS": "3"}, "SENT_EMAILS_RETENTION_DAYS", "at least QUEUE_FAILED_RETENTION_HOURS (168 hours)"},
		{map[string]string{"QUEUE_FAILED_RETENTION_HOURS": "0"}, "SENT_EMAILS_RETENTION_DAYS", "must be 0 (keep forever) while QUEUE_FAILED_RETENTION_HOURS=0"},
		{map[string]string{"QUEUE_FAILED_RETENTION_HOURS": "1", "SENT_EMAILS_RETENTION_DAYS": "1", "DB_QUEUE_RETRY_AFTER": "172800"}, "SENT_EMAILS_RETENTION_DAYS", "at least DB_QUEUE_RETRY_AFTER"},
	} {
		_, err := FromMap(tc.vals)
		var ce *Error
		require.ErrorAs(t, err, &ce, tc.vals)
		require.Equal(t, tc.key, ce.Key, tc.vals)
		require.Contains(t, ce.Reason, tc.want, tc.vals)
		require.NotContains(t, err.Error(), "\n")
	}
}

func TestRedisQueuePrefixFromEnvironment(t *testing.T) {
	t.Setenv("REDIS_QUEUE_PREFIX", "staging:queue:")
	t.Setenv("SENT_EMAILS_RETENTION_DAYS", "120")
	c, err := Load("")
	require.NoError(t, err)
	require.Equal(t, "staging:queue:", c.RedisQueuePrefix)
	require.Equal(t, 120*24*time.Hour, c.Retention.SentEmails)
}

// TestPaymentSimulatorSwitch: the simulator is on by default in local mode
// only; PAYMENT_SIMULATOR=true turns it on elsewhere with sandbox keys and
// stops the process in production, against Midtrans' production endpoints
// or with a production key.
func TestPaymentSimulatorSwitch(t *testing.T) {
	const sandbox, live = "SB-Mid-server-abc123", "Mid-server-abc123"
	on := []map[string]string{
		{},
		{"APP_ENV": "local", "MIDTRANS_SERVER_KEY": sandbox},
		{"APP_ENV": "local", "PAYMENT_SIMULATOR": "true"},
		{"APP_ENV": "staging", "MIDTRANS_SERVER_KEY": sandbox, "PAYMENT_SIMULATOR": "true"},
		{"APP_ENV": "testing", "MIDTRANS_SERVER_KEY": sandbox, "PAYMENT_SIMULATOR": "on"},
	}
	off := []map[string]string{
		{"APP_ENV": "local", "PAYMENT_SIMULATOR": "false"},
		{"APP_ENV": "local", "MIDTRANS_IS_PRODUCTION": "true"},
		{"APP_ENV": "local", "MIDTRANS_SERVER_KEY": live},
		{"APP_ENV": "staging", "MIDTRANS_SERVER_KEY": sandbox},
		{"APP_ENV": "testing", "MIDTRANS_SERVER_KEY": sandbox},
		{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": live},
		{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": sandbox, "PAYMENT_SIMULATOR": "false"},
	}
	refused := []struct {
		want string
		vals map[string]string
	}{
		{"APP_ENV=production", map[string]string{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": sandbox, "PAYMENT_SIMULATOR": "true"}},
		{"MIDTRANS_IS_PRODUCTION=true", map[string]string{"APP_ENV": "staging", "MIDTRANS_SERVER_KEY": sandbox, "MIDTRANS_IS_PRODUCTION": "true", "PAYMENT_SIMULATOR": "true"}},
		{"MIDTRANS_IS_PRODUCTION=true", map[string]string{"APP_ENV": "local", "MIDTRANS_IS_PRODUCTION": "true", "PAYMENT_SIMULATOR": "true"}},
		{"SB-Mid-server", map[string]string{"APP_ENV": "staging", "MIDTRANS_SERVER_KEY": live, "PAYMENT_SIMULATOR": "true"}},
		{"sandbox keys", map[string]string{"APP_ENV": "testing", "PAYMENT_SIMULATOR": "true"}},
	}
	// Staging and production need an APP_KEY whatever the simulator.
	withKey := func(vals map[string]string) map[string]string {
		if vals["APP_ENV"] == "staging" || vals["APP_ENV"] == "production" {
			vals["APP_KEY"] = testAppKey
		}
		return vals
	}
	for _, vals := range on {
		c, err := FromMap(withKey(vals))
		require.NoError(t, err, "%v", vals)
		require.True(t, c.SimulatorEnabled(), "%v", vals)
	}
	for _, vals := range off {
		c, err := FromMap(withKey(vals))
		require.NoError(t, err, "%v", vals)
		require.False(t, c.SimulatorEnabled(), "%v", vals)
	}
	for _, r := range refused {
		_, err := FromMap(r.vals)
		var ce *Error
		require.ErrorAs(t, err, &ce, "%v", r.vals)
		require.Equal(t, "PAYMENT_SIMULATOR", ce.Key)
		require.Contains(t, err.Error(), r.want)
		require.NotContains(t, err.Error(), "\n")
		require.NotContains(t, err.Error(), "abc123", "the key itself is not repeated")
	}
}

// TestPaymentDefaults: notifications are confirmed with the Status API
// unless turned off, and rejected notifications are limited by default,
// 0 meaning no limit.
func TestPaymentDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.True(t, c.MidtransVerifyStatus)
	require.Equal(t, DefaultPaymentRejectedRateLimit, c.PaymentRejectedRateLimit)
	require.Equal(t, DefaultPaymentRejectedStoreLimit, c.PaymentRejectedStoreLimit)
	require.Equal(t, 3*24*time.Hour, c.Retention.RejectedPaymentNotifications)

	c, err = FromMap(map[string]string{"MIDTRANS_VERIFY_STATUS": "false", "PAYMENT_REJECTED_RATE_LIMIT": "0", "PAYMENT_REJECTED_STORE_LIMIT": "0"})
	require.NoError(t, err)
	require.False(t, c.MidtransVerifyStatus)
	require.Zero(t, c.PaymentRejectedRateLimit)
	require.Zero(t, c.PaymentRejectedStoreLimit)
	for _, key := range []string{"PAYMENT_REJECTED_RATE_LIMIT", "PAYMENT_REJECTED_STORE_LIMIT"} {
		_, err := FromMap(map[string]string{key: "-1"})
		var ce *Error
		require.ErrorAs(t, err, &ce)
		require.Equal(t, key, ce.Key)
	}

	// The link key is APP_KEY's, whatever the server key.
	a, _ := FromMap(map[string]string{"MIDTRANS_SERVER_KEY": "SB-Mid-server-one", "APP_KEY": testAppKey})
	b, _ := FromMap(map[string]string{"MIDTRANS_SERVER_KEY": "SB-Mid-server-two", "APP_KEY": testAppKey})
	require.Len(t, a.LinkKey(), 32)
	require.Equal(t, a.LinkKey(), b.LinkKey())
}

func TestDiagnoseReportsEveryErrorAndKeepsTheRest(t *testing.T) {
	cfg, errs := DiagnoseMap(map[string]string{
		"APP_ENV": "production", "APP_KEY": "base64:" + strings.Repeat("A", 44),
		"DB_CONNECTION": "mysql", "DB_DATABASE": "shop", "MAIL_PORT": "0",
	})
	require.NotNil(t, cfg)
	require.Equal(t, "mysql", cfg.DBConnection)
	require.Equal(t, "shop", cfg.DBDatabase)
	require.Equal(t, 587, cfg.MailPort, "a failing key keeps its default")
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	require.Equal(t, []string{"MAIL_PORT", "MIDTRANS_SERVER_KEY"}, keys)

	cfg, errs = DiagnoseMap(map[string]string{})
	require.Empty(t, errs)
	require.Equal(t, "sqlite", cfg.DBConnection)
}
