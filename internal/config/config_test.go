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
		"APP_ENV":                  {"APP_ENV": "staging"},
		"APP_TIMEZONE":             {"APP_TIMEZONE": "Mars/Olympus"},
		"DB_CONNECTION":            {"DB_CONNECTION": "oracle"},
		"DB_PORT":                  {"DB_PORT": "abc"},
		"QUEUE_CONNECTION":         {"QUEUE_CONNECTION": "sqs"},
		"DB_QUEUE_RETRY_AFTER":     {"DB_QUEUE_RETRY_AFTER": "0"},
		"MAIL_ENCRYPTION":          {"MAIL_ENCRYPTION": "starttls"},
		"BOOKING_EXPIRY_MINUTES":   {"BOOKING_EXPIRY_MINUTES": "-5"},
		"APP_URL":                  {"APP_URL": "localhost"},
		"MIDTRANS_SERVER_KEY":      {"APP_ENV": "production"},
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
