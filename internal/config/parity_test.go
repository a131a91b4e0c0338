package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The keys Laravel spells differently from Tripin's first spelling
// (issue 17, "Configuration parity with Laravel").

func requireConfigError(t *testing.T, vals map[string]string, key, want string) {
	t.Helper()
	_, err := FromMap(vals)
	var ce *Error
	require.ErrorAs(t, err, &ce, "%v", vals)
	require.Equal(t, key, ce.Key, "%v", vals)
	require.Contains(t, ce.Reason, want, "%v", vals)
	require.NotContains(t, err.Error(), "\n")
}

func TestMariaDBIsMySQL(t *testing.T) {
	for _, v := range []string{"mariadb", "MariaDB"} {
		c, err := FromMap(map[string]string{"DB_CONNECTION": v, "DB_DATABASE": "tripin_travel", "DB_USERNAME": "tripin"})
		require.NoError(t, err)
		require.Equal(t, "mysql", c.DBConnection)
		require.Equal(t, 3306, c.DBPort)
		require.Contains(t, c.Dump(), "DB_CONNECTION=mysql")
	}
	requireConfigError(t, map[string]string{"DB_CONNECTION": "maria"}, "DB_CONNECTION", "must be one of sqlite, mysql, mariadb, pgsql")
}

func TestRedisFromParts(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "redis://127.0.0.1:6379/0", c.RedisURL, "the default is unchanged")
	require.Empty(t, c.Warnings())

	c, err = FromMap(map[string]string{
		"QUEUE_CONNECTION": "redis", "REDIS_HOST": "redis.internal", "REDIS_PORT": "6380",
		"REDIS_PASSWORD": "p@ss/word", "REDIS_DB": "2",
	})
	require.NoError(t, err)
	require.Equal(t, "redis://:p%40ss%2Fword@redis.internal:6380/2", c.RedisURL)
	require.Equal(t, "p@ss/word", urlPassword(c.RedisURL))
	require.Contains(t, c.Secrets(), "p@ss/word")
	require.Contains(t, c.Dump(), "REDIS_PASSWORD=********")
	require.Contains(t, c.Dump(), "REDIS_URL=********")

	// Laravel's .env says "no password" with null, and phpredis takes TLS
	// as a scheme on the host.
	c, err = FromMap(map[string]string{"REDIS_HOST": "tls://cache.example.com", "REDIS_PASSWORD": "null"})
	require.NoError(t, err)
	require.Equal(t, "rediss://cache.example.com:6379/0", c.RedisURL)
	c, err = FromMap(map[string]string{"REDIS_HOST": "::1"})
	require.NoError(t, err)
	require.Equal(t, "redis://[::1]:6379/0", c.RedisURL)
}

func TestRedisURLWinsOverParts(t *testing.T) {
	// Laravel's own .env carries the parts with their defaults: no warning.
	c, err := FromMap(map[string]string{
		"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_PASSWORD": "null",
	})
	require.NoError(t, err)
	require.Equal(t, "redis://127.0.0.1:6379/0", c.RedisURL)
	require.Empty(t, c.Warnings())

	c, err = FromMap(map[string]string{"REDIS_URL": "redis://queue.internal:6379/1", "REDIS_HOST": "cache.internal", "REDIS_DB": "1", "REDIS_PORT": "6380"})
	require.NoError(t, err)
	require.Equal(t, "redis://queue.internal:6379/1", c.RedisURL)
	require.Equal(t, []string{"REDIS_HOST, REDIS_PORT ignored: REDIS_URL is set and wins over the REDIS_* parts"}, c.Warnings())
}

func TestRedisPartErrors(t *testing.T) {
	requireConfigError(t, map[string]string{"REDIS_PORT": "six"}, "REDIS_PORT", "must be a whole number")
	requireConfigError(t, map[string]string{"REDIS_PORT": "70000"}, "REDIS_PORT", "must be between 1 and 65535")
	requireConfigError(t, map[string]string{"REDIS_DB": "-1"}, "REDIS_DB", "must be between 0 and")
	requireConfigError(t, map[string]string{"REDIS_DB": "one"}, "REDIS_DB", "must be a whole number")
	requireConfigError(t, map[string]string{"REDIS_HOST": "redis://user:pw@host:6379"}, "REDIS_HOST", "must be a host name or address")
	requireConfigError(t, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL", "must be a redis:// or rediss:// URL")
}

func TestMailScheme(t *testing.T) {
	for _, tc := range []struct {
		scheme, encryption, want string
	}{
		{"", "", "tls"},
		{"", "ssl", "ssl"},
		{"", "null", "none"},
		{"smtps", "", "ssl"},
		{"smtps", "ssl", "ssl"},
		{"smtps", "null", "ssl"},
		{"SMTPS", "", "ssl"},
		{"smtp", "", "tls"},
		{"smtp", "tls", "tls"},
		{"smtp", "none", "none"},
		{"null", "none", "none"},
	} {
		vals := map[string]string{}
		if tc.scheme != "" {
			vals["MAIL_SCHEME"] = tc.scheme
		}
		if tc.encryption != "" {
			vals["MAIL_ENCRYPTION"] = tc.encryption
		}
		c, err := FromMap(vals)
		require.NoError(t, err, "%v", vals)
		require.Equal(t, tc.want, c.MailEncryption, "%v", vals)
	}
	requireConfigError(t, map[string]string{"MAIL_SCHEME": "smtps", "MAIL_ENCRYPTION": "tls"}, "MAIL_SCHEME", "smtps (implicit TLS) contradicts MAIL_ENCRYPTION=tls (STARTTLS)")
	requireConfigError(t, map[string]string{"MAIL_SCHEME": "smtps", "MAIL_ENCRYPTION": "none"}, "MAIL_SCHEME", "contradicts MAIL_ENCRYPTION=none")
	requireConfigError(t, map[string]string{"MAIL_SCHEME": "smtp", "MAIL_ENCRYPTION": "ssl"}, "MAIL_SCHEME", "contradicts MAIL_ENCRYPTION=ssl")
	requireConfigError(t, map[string]string{"MAIL_SCHEME": "starttls"}, "MAIL_SCHEME", "must be one of smtp, smtps")
}

func TestAppName(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "Tripin", c.Name())
	require.Equal(t, "Tripin Travel", c.MailFromName)
	require.Equal(t, "Tripin Travel", c.MailAppName(), "emails keep their name when APP_NAME is unset")

	c, err = FromMap(map[string]string{"APP_NAME": "Bali Trails"})
	require.NoError(t, err)
	require.Equal(t, "Bali Trails", c.Name())
	require.Equal(t, "Bali Trails", c.MailFromName, "MAIL_FROM_NAME defaults to APP_NAME, as in Laravel")
	require.Equal(t, "Bali Trails", c.MailAppName())
	require.Contains(t, c.Dump(), "APP_NAME=Bali Trails")

	c, err = FromMap(map[string]string{"APP_NAME": "Bali Trails", "MAIL_FROM_NAME": "Bali Trails Bookings"})
	require.NoError(t, err)
	require.Equal(t, "Bali Trails Bookings", c.MailFromName)
	require.Equal(t, "Bali Trails", c.MailAppName())

	require.Equal(t, "Tripin", (&Config{}).Name(), "a Config built by hand")
}

func TestLogFormat(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "auto", c.LogFormat)
	for _, v := range []string{"json", "text", "JSON", "auto"} {
		c, err := FromMap(map[string]string{"LOG_FORMAT": v, "LOG_LEVEL": "debug"})
		require.NoError(t, err)
		require.Contains(t, []string{"json", "text", "auto"}, c.LogFormat)
		require.Equal(t, "debug", c.LogLevel)
	}
	requireConfigError(t, map[string]string{"LOG_FORMAT": "logfmt"}, "LOG_FORMAT", "must be one of json, text, auto")
	requireConfigError(t, map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL", "must be one of debug, info, warn, warning, error")
}

func TestMisspeltKeysWarn(t *testing.T) {
	c, err := FromMap(map[string]string{
		"QUEUE_CONECTION":             "redis", // a letter missing
		"DB_HSOT":                     "db",    // two letters swapped
		"mail_host":                   "smtp",  // another case
		"QUEUE_FAILED_RETENTION_DAYS": "7",     // another unit
		"LOG_CHANNEL":                 "stack", // Laravel's, far from any of ours
		"APP_LOCALE":                  "en",
		"REDIS_CLIENT":                "phpredis",
		"HTTP_PROXY":                  "http://proxy:3128", // another program's
		"APP_HOME":                    "/srv",              // two edits from APP_NAME: too far for a short key
		"QUEUE_CONNECTIONS":           "database",
	})
	require.NoError(t, err, "unknown keys never stop the process")
	require.Equal(t, []string{
		"unknown setting DB_HSOT; did you mean DB_HOST?",
		"unknown setting QUEUE_CONECTION; did you mean QUEUE_CONNECTION?",
		"unknown setting QUEUE_CONNECTIONS; did you mean QUEUE_CONNECTION?",
		"unknown setting QUEUE_FAILED_RETENTION_DAYS; did you mean QUEUE_FAILED_RETENTION_HOURS?",
		"unknown setting mail_host; did you mean MAIL_HOST?",
	}, c.Warnings())
	require.Equal(t, "database", c.QueueConnection, "a misspelt key is not read")
}

func TestLoadWarnsAboutMisspeltKeysInFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(f, []byte("QUEUE_CONECTION=redis\nAPP_NAME=\"Bali Trails\"\nMAIL_FROM_NAME=\"${APP_NAME}\"\n"), 0o600))
	t.Setenv("BOOKING_EXPIRY_MINUTS", "15")
	t.Setenv("TRIPIN_UNRELATED_SETTING", "x")
	c, err := Load(f)
	require.NoError(t, err)
	require.Equal(t, []string{
		"unknown setting BOOKING_EXPIRY_MINUTS (in the environment); did you mean BOOKING_EXPIRY_MINUTES?",
		"unknown setting QUEUE_CONECTION (in " + f + "); did you mean QUEUE_CONNECTION?",
	}, c.Warnings())
	require.Equal(t, "Bali Trails", c.MailFromName, "${APP_NAME} is expanded, as Laravel's .env does")
	require.Equal(t, 30, c.BookingExpiryMinutes)
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"ABC", "ABC", 0}, {"ABC", "", 3}, {"", "AB", 2},
		{"QUEUE_CONECTION", "QUEUE_CONNECTION", 1}, {"DB_HSOT", "DB_HOST", 1},
		{"APP_HOME", "APP_NAME", 2}, {"KITTEN", "SITTING", 3}, {"CA", "ABC", 3},
	} {
		require.Equal(t, tc.want, editDistance(tc.a, tc.b), "%s %s", tc.a, tc.b)
		require.Equal(t, tc.want, editDistance(tc.b, tc.a), "%s %s", tc.b, tc.a)
	}
}

// TestDumpNamesEveryKey: Dump shows every key Tripin reads, the new ones
// included.
func TestDumpNamesEveryKey(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	dumped := map[string]bool{}
	for _, line := range c.Dump() {
		k, _, _ := strings.Cut(line, "=")
		dumped[k] = true
	}
	for _, k := range Keys {
		require.True(t, dumped[k], "%s is missing from Dump", k)
	}
}
