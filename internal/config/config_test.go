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
		"APP_ENV":                {"APP_ENV": "staging"},
		"APP_TIMEZONE":           {"APP_TIMEZONE": "Mars/Olympus"},
		"DB_CONNECTION":          {"DB_CONNECTION": "oracle"},
		"DB_PORT":                {"DB_PORT": "abc"},
		"QUEUE_CONNECTION":       {"QUEUE_CONNECTION": "sqs"},
		"DB_QUEUE_RETRY_AFTER":   {"DB_QUEUE_RETRY_AFTER": "0"},
		"MAIL_ENCRYPTION":        {"MAIL_ENCRYPTION": "starttls"},
		"BOOKING_EXPIRY_MINUTES": {"BOOKING_EXPIRY_MINUTES": "-5"},
		"APP_URL":                {"APP_URL": "localhost"},
		"MIDTRANS_SERVER_KEY":    {"APP_ENV": "production"},
		"REDIS_URL":              {"QUEUE_CONNECTION": "redis", "REDIS_URL": "http://x"},
		"APP_DEBUG":              {"APP_DEBUG": "maybe"},
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
