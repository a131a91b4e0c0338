package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Fair use and secrets (issue 13, part C): the limits that keep one
// customer from holding every seat, and the application key that signs
// links.

// The defaults of the fair-use keys. Each may be set to 0 for no limit, as
// load tests and benchmarks do.
const (
	// DefaultBookingMaxPendingPerUser lets a customer hold five unpaid
	// bookings at once: more than a family books, far fewer than a
	// sold-out tour.
	DefaultBookingMaxPendingPerUser = 5
	// DefaultBookingMaxQuantity is the most seats one booking takes.
	DefaultBookingMaxQuantity = 10
	// DefaultBookingRateLimit is how many bookings a customer may create
	// per minute.
	DefaultBookingRateLimit = 10
)

// AppKeyBytes is the length of the random key `tripin key generate`
// prints, and the least a base64 APP_KEY must decode to.
const AppKeyBytes = 32

// appKeyPrefix starts a base64-encoded APP_KEY, as in Laravel.
const appKeyPrefix = "base64:"

// LocalAppKeyFile is where local mode keeps the application key it
// generated on first start, relative to the working directory, beside the
// SQLite database.
const LocalAppKeyFile = "storage/app.key"

// securityKeyNames are the keys of this file, for Keys.
func securityKeyNames() []string {
	return []string{"APP_KEY", "BOOKING_MAX_PENDING_PER_USER", "BOOKING_RATE_LIMIT"}
}

// fairUse reads the limits on bookings (BOOKING_MAX_QUANTITY is read with
// the booking keys).
func (p *parser) fairUse(c *Config) {
	c.BookingMaxPendingPerUser = p.intRange("BOOKING_MAX_PENDING_PER_USER", DefaultBookingMaxPendingPerUser, 0, 1_000_000)
	c.BookingRateLimit = p.intRange("BOOKING_RATE_LIMIT", DefaultBookingRateLimit, 0, 1_000_000)
}

// appKey reads APP_KEY. Without one, production and staging stop at start
// (both hold real customers' links); testing and local get a random key
// that lives as long as the process, which signs links no other process
// accepts, so nothing is open. Local mode then replaces it with the key
// kept in storage/app.key (LoadLocalAppKey), so links survive a restart.
func (p *parser) appKey(c *Config) {
	const key = "APP_KEY"
	raw := p.str(key, "")
	if raw == "" {
		if c.AppEnv == "production" || c.AppEnv == "staging" {
			p.fail(key, fmt.Sprintf("is required when APP_ENV=%s: generate one with `tripin key generate`", c.AppEnv))
			return
		}
		k, err := NewAppKey()
		if err != nil {
			p.fail(key, err.Error())
			return
		}
		c.AppKey, c.AppKeyEphemeral = k, true
		return
	}
	if _, err := DecodeAppKey(raw); err != nil {
		p.fail(key, err.Error())
		return
	}
	c.AppKey = raw
}

// NewAppKey returns a new random application key, as `tripin key
// generate` prints it: "base64:" and 32 random bytes.
func NewAppKey() (string, error) {
	b := make([]byte, AppKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a key: %w", err)
	}
	return appKeyPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeAppKey returns the bytes of an APP_KEY: "base64:" and at least 32
// bytes in standard base64, or a plain string of at least 32 characters.
func DecodeAppKey(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, appKeyPrefix); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("is not valid base64 after \"base64:\"; generate one with `tripin key generate`")
		}
		if len(b) < AppKeyBytes {
			return nil, fmt.Errorf("must decode to at least %d bytes; generate one with `tripin key generate`", AppKeyBytes)
		}
		return b, nil
	}
	if len(s) < AppKeyBytes {
		return nil, fmt.Errorf("must be \"base64:\" and %d random bytes, or at least %d characters; generate one with `tripin key generate`", AppKeyBytes, AppKeyBytes)
	}
	return []byte(s), nil
}

// LinkKey returns the secret that signs links opened without a login (the
// e-ticket and payment simulator links): the bytes of APP_KEY.
func (c *Config) LinkKey() []byte {
	b, err := DecodeAppKey(c.AppKey)
	if err != nil {
		// Load validated APP_KEY; a Config built by hand without one
		// signs with nothing anybody can know either.
		b = []byte("unset APP_KEY\x00" + c.AppKey)
		k, kerr := NewAppKey()
		if kerr == nil {
			b = append(b, k...)
		}
	}
	return b
}

// LoadLocalAppKey makes c use the application key kept in path when
// APP_ENV=local and no APP_KEY was set: the key is read from the file, or
// generated and written there (mode 0600) on first start. It changes
// nothing in any other case. It returns whether a new key was written.
func LoadLocalAppKey(c *Config, path string) (bool, error) {
	if c.AppEnv != "local" || !c.AppKeyEphemeral {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if _, derr := DecodeAppKey(k); derr != nil {
			return false, &Error{Key: "APP_KEY", Reason: fmt.Sprintf("the key in %s %s", path, derr.Error())}
		}
		c.AppKey, c.AppKeyEphemeral = k, false
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("config: read %s: %w", path, err)
	}
	k, err := NewAppKey()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("config: create %s: %w", filepath.Dir(path), err)
	}
	// The key is written whole to a file of its own, then published under
	// path with a hard link, which fails if path exists: a process starting
	// at the same moment sees either no file or the complete key, never an
	// empty one, and two processes starting together keep the first key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".app.key-*") // mode 0600
	if err != nil {
		return false, fmt.Errorf("config: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(k + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadLocalAppKey(c, path)
	} else if err != nil {
		return false, fmt.Errorf("config: create %s: %w", path, err)
	}
	c.AppKey, c.AppKeyEphemeral = k, false
	return true, nil
}

// configuredAppKey is APP_KEY as configured: "" for a key that lives only
// in this process.
func (c *Config) configuredAppKey() string {
	if c.AppKeyEphemeral {
		return ""
	}
	return c.AppKey
}

// dumpSecurity adds the keys of this file to a Dump.
func (c *Config) dumpSecurity(vals map[string]string) {
	vals["APP_KEY"] = c.configuredAppKey()
	vals["BOOKING_MAX_PENDING_PER_USER"] = strconv.Itoa(c.BookingMaxPendingPerUser)
	vals["BOOKING_RATE_LIMIT"] = strconv.Itoa(c.BookingRateLimit)
}

// urlPassword returns the password inside a database or Redis URL: the
// userinfo password of a URL (postgres://u:p@h/db, redis://:p@h:6379/0) or
// of a MySQL DSN (u:p@tcp(h:3306)/db); "" when there is none.
func urlPassword(s string) string {
	if s == "" {
		return ""
	}
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			p, _ := u.User.Password()
			return p
		}
		// Fall through for what url.Parse refuses.
		s = s[strings.Index(s, "://")+3:]
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return ""
	}
	user, pass, ok := strings.Cut(s[:at], ":")
	if !ok || strings.ContainsAny(user, "/") {
		return ""
	}
	return pass
}

// Mask replaces what a secret was.
const Mask = "********"

// userinfoPassword matches the password of a URL's userinfo
// (scheme://user:password@) and of a MySQL DSN (user:password@tcp(...)).
var userinfoPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)([^\s@/]+)(@)|(\b[^\s:/@'"]+:)([^\s@]+)(@(?:tcp|unix)\()`)

// Scrub returns s with every secret replaced by Mask, and with the
// password of any URL or MySQL DSN in it masked, whether or not it is a
// configured one.
func Scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	if strings.Contains(s, "@") {
		s = userinfoPassword.ReplaceAllString(s, "${1}${4}"+Mask+"${3}${6}")
	}
	return s
}

// Scrubber returns a function that scrubs the configured secrets out of a
// text (Scrub with Secrets): job errors pass through it before they are
// stored in jobs.last_error or failed_jobs.exception.
func (c *Config) Scrubber() func(string) string {
	secrets := c.Secrets()
	return func(s string) string { return Scrub(s, secrets) }
}
