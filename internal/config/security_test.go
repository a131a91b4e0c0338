package config

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testAppKey is a valid APP_KEY: "base64:" and 32 bytes.
const testAppKey = "base64:dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE="

func TestFairUseKeys(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, DefaultBookingMaxPendingPerUser, c.BookingMaxPendingPerUser)
	require.Equal(t, DefaultBookingMaxQuantity, c.BookingMaxQuantity)
	require.Equal(t, DefaultBookingRateLimit, c.BookingRateLimit)
	require.Positive(t, c.BookingMaxPendingPerUser)
	require.Positive(t, c.BookingRateLimit)

	// 0 means no limit, for each of them.
	c, err = FromMap(map[string]string{"BOOKING_MAX_PENDING_PER_USER": "0", "BOOKING_MAX_QUANTITY": "0", "BOOKING_RATE_LIMIT": "0"})
	require.NoError(t, err)
	require.Zero(t, c.BookingMaxPendingPerUser)
	require.Zero(t, c.BookingMaxQuantity)
	require.Zero(t, c.BookingRateLimit)

	for _, key := range []string{"BOOKING_MAX_PENDING_PER_USER", "BOOKING_MAX_QUANTITY", "BOOKING_RATE_LIMIT"} {
		_, err := FromMap(map[string]string{key: "-1"})
		var ce *Error
		require.ErrorAs(t, err, &ce)
		require.Equal(t, key, ce.Key)
	}
	require.Contains(t, strings.Join(c.Dump(), "\n"), "BOOKING_RATE_LIMIT=0")
}

func TestAppKey(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": "Mid-server-live"}
	// Production and staging stop at start without one, naming the key
	// and how to make one.
	for _, env := range []string{"production", "staging"} {
		vals := map[string]string{"APP_ENV": env, "MIDTRANS_SERVER_KEY": prod["MIDTRANS_SERVER_KEY"]}
		_, err := FromMap(vals)
		var ce *Error
		require.ErrorAs(t, err, &ce, env)
		require.Equal(t, "APP_KEY", ce.Key)
		require.Contains(t, err.Error(), "tripin key generate")
		vals["APP_KEY"] = testAppKey
		c, err := FromMap(vals)
		require.NoError(t, err, env)
		require.Equal(t, testAppKey, c.AppKey)
		require.False(t, c.AppKeyEphemeral)
		require.Equal(t, "this is a test key of 32 bytes!!", string(c.LinkKey()))
	}

	// Testing and local get a key of their own per process.
	for _, env := range []string{"testing", "local"} {
		a, err := FromMap(map[string]string{"APP_ENV": env})
		require.NoError(t, err)
		b, err := FromMap(map[string]string{"APP_ENV": env})
		require.NoError(t, err)
		require.True(t, a.AppKeyEphemeral)
		require.Len(t, a.LinkKey(), AppKeyBytes)
		require.NotEqual(t, a.LinkKey(), b.LinkKey())
	}

	// Bad keys are refused.
	for _, bad := range []string{"short", "base64:!!!", "base64:" + strings.Repeat("A", 40)} {
		_, err := FromMap(map[string]string{"APP_KEY": bad})
		var ce *Error
		require.ErrorAs(t, err, &ce, bad)
		require.Equal(t, "APP_KEY", ce.Key)
		require.NotContains(t, err.Error(), bad, "the error does not repeat the key")
	}
	// A plain key of 32 characters is accepted, as Laravel does.
	c, err := FromMap(map[string]string{"APP_KEY": strings.Repeat("k", 32)})
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("k", 32), string(c.LinkKey()))

	// The key is a secret: masked in dumps, scrubbed from messages.
	c, err = FromMap(map[string]string{"APP_KEY": testAppKey})
	require.NoError(t, err)
	require.Contains(t, c.Dump(), "APP_KEY=********")
	require.Contains(t, c.Secrets(), testAppKey)

	// Generated keys decode to 32 random bytes.
	k1, err := NewAppKey()
	require.NoError(t, err)
	k2, _ := NewAppKey()
	require.NotEqual(t, k1, k2)
	b, err := DecodeAppKey(k1)
	require.NoError(t, err)
	require.Len(t, b, AppKeyBytes)
}

func TestLoadLocalAppKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "storage", "app.key")
	c, err := FromMap(map[string]string{"APP_ENV": "local"})
	require.NoError(t, err)
	created, err := LoadLocalAppKey(c, path)
	require.NoError(t, err)
	require.True(t, created)
	require.False(t, c.AppKeyEphemeral)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, c.AppKey, strings.TrimSpace(string(raw)))

	// The next start, and every process starting at once, reuse it.
	var wg sync.WaitGroup
	keys := make([]string, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := FromMap(map[string]string{"APP_ENV": "local"})
			if err == nil {
				_, err = LoadLocalAppKey(d, path)
			}
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = d.AppKey
		}()
	}
	wg.Wait()
	for _, k := range keys {
		require.Equal(t, c.AppKey, k)
	}

	// Two fresh directories racing for a new file agree on one key.
	path2 := filepath.Join(t.TempDir(), "app.key")
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _ := FromMap(map[string]string{"APP_ENV": "local"})
			if _, err := LoadLocalAppKey(d, path2); err != nil {
				t.Error(err)
			}
			keys[i] = d.AppKey
		}()
	}
	wg.Wait()
	for _, k := range keys {
		require.Equal(t, keys[0], k)
	}

	// A configured APP_KEY wins, and nothing is written elsewhere than
	// local mode.
	d, err := FromMap(map[string]string{"APP_ENV": "local", "APP_KEY": testAppKey})
	require.NoError(t, err)
	created, err = LoadLocalAppKey(d, filepath.Join(t.TempDir(), "x.key"))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, testAppKey, d.AppKey)
	e, err := FromMap(map[string]string{"APP_ENV": "testing"})
	require.NoError(t, err)
	other := filepath.Join(t.TempDir(), "y.key")
	_, err = LoadLocalAppKey(e, other)
	require.NoError(t, err)
	require.NoFileExists(t, other)

	// A damaged file stops the start with a clear line.
	require.NoError(t, os.WriteFile(path, []byte("garbage\n"), 0o600))
	f, _ := FromMap(map[string]string{"APP_ENV": "local"})
	_, err = LoadLocalAppKey(f, path)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Contains(t, err.Error(), path)
}

func TestScrub(t *testing.T) {
	c, err := FromMap(map[string]string{
		"DB_CONNECTION": "pgsql", "DB_URL": "postgres://tripin:pg-s3cret-pw@db.internal:5432/tripin?sslmode=disable",
		"QUEUE_CONNECTION": "redis", "REDIS_URL": "redis://:redis-s3cret@cache.internal:6379/0",
		"MAIL_PASSWORD": "smtp-s3cret", "MIDTRANS_SERVER_KEY": "SB-Mid-server-abcdef", "APP_KEY": testAppKey,
		"DB_PASSWORD": "dbpass-1234",
	})
	require.NoError(t, err)
	scrub := c.Scrubber()
	for _, secret := range []string{"pg-s3cret-pw", "redis-s3cret", "smtp-s3cret", "SB-Mid-server-abcdef", testAppKey, "dbpass-1234"} {
		msg := "dial failed: auth with " + secret + " refused"
		out := scrub(msg)
		require.NotContains(t, out, secret)
		require.Contains(t, out, Mask)
		require.Contains(t, out, "dial failed: auth with")
	}
	// Passwords inside any URL or MySQL DSN are masked, configured or not.
	cases := map[string]string{
		"open postgres://u:other-pw@h:5432/db failed":          "open postgres://u:********@h:5432/db failed",
		"redis: dial redis://:pw2xyz@10.0.0.1:6379/0: refused": "redis: dial redis://:********@10.0.0.1:6379/0: refused",
		"mysql root:topsecret@tcp(127.0.0.1:3306)/test down":   "mysql root:********@tcp(127.0.0.1:3306)/test down",
		"smtp://mailer:p%40ss@smtp.example:587":                "smtp://mailer:********@smtp.example:587",
		// No password: nothing to mask.
		"postgres://postgres@127.0.0.1:5432/test": "postgres://postgres@127.0.0.1:5432/test",
		"mail bob@example.com at 10:30":           "mail bob@example.com at 10:30",
	}
	for in, want := range cases {
		require.Equal(t, want, scrub(in), in)
	}
}
