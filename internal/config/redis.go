package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// The defaults of the Redis server, as Laravel's.
const (
	DefaultRedisHost = "127.0.0.1"
	DefaultRedisPort = 6379
)

// redis reads the Redis server of QUEUE_CONNECTION=redis: REDIS_URL, or,
// as Laravel spells it, REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and
// REDIS_DB. REDIS_URL wins when both are set; parts that disagree with it
// are reported by Warnings, since they are ignored.
func (p *parser) redis(c *Config) {
	c.RedisHost = p.str("REDIS_HOST", DefaultRedisHost)
	c.RedisPort = p.intRange("REDIS_PORT", DefaultRedisPort, 1, 65535)
	c.RedisPassword = p.str("REDIS_PASSWORD", "")
	if strings.EqualFold(c.RedisPassword, "null") {
		// Laravel's .env spells "no password" REDIS_PASSWORD=null.
		c.RedisPassword = ""
	}
	c.RedisDB = p.intRange("REDIS_DB", 0, 0, math.MaxInt32)

	scheme, host := "redis", c.RedisHost
	// phpredis takes TLS as a scheme on the host (tls://redis.example.com).
	for prefix, s := range map[string]string{"tls://": "rediss", "rediss://": "rediss", "redis://": "redis"} {
		if len(host) > len(prefix) && strings.EqualFold(host[:len(prefix)], prefix) {
			scheme, host = s, host[len(prefix):]
			break
		}
	}
	if host == "" || strings.ContainsAny(host, "/@?# \t") {
		p.fail("REDIS_HOST", "must be a host name or address (without a scheme, port or password)")
	}
	parts := &url.URL{
		Scheme: scheme,
		Host:   net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(c.RedisPort)),
		Path:   "/" + strconv.Itoa(c.RedisDB),
	}
	if c.RedisPassword != "" {
		parts.User = url.UserPassword("", c.RedisPassword)
	}

	c.RedisURL = p.str("REDIS_URL", "")
	if c.RedisURL == "" {
		c.RedisURL = parts.String()
		return
	}
	u, err := url.Parse(c.RedisURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		// Only the redis connection needs the URL to be right; a stray
		// REDIS_URL elsewhere stops nothing, as before.
		if c.QueueConnection == "redis" {
			p.fail("REDIS_URL", "must be a redis:// or rediss:// URL")
		}
		return
	}
	if ignored := p.redisPartsIgnored(u, c, strings.Trim(host, "[]")); len(ignored) > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%s ignored: REDIS_URL is set and wins over the REDIS_* parts", strings.Join(ignored, ", ")))
	}
}

// redisPartsIgnored lists the REDIS_* parts that are set and say something
// other than REDIS_URL u.
func (p *parser) redisPartsIgnored(u *url.URL, c *Config, host string) []string {
	port, db, password := strconv.Itoa(DefaultRedisPort), "0", ""
	if u.Port() != "" {
		port = u.Port()
	}
	if d := strings.Trim(u.Path, "/"); d != "" {
		db = d
	}
	if u.User != nil {
		password, _ = u.User.Password()
	}
	var out []string
	for _, part := range []struct {
		key     string
		differs bool
	}{
		{"REDIS_HOST", !strings.EqualFold(host, u.Hostname())},
		{"REDIS_PORT", strconv.Itoa(c.RedisPort) != port},
		{"REDIS_PASSWORD", c.RedisPassword != password},
		{"REDIS_DB", strconv.Itoa(c.RedisDB) != db},
	} {
		if part.differs && p.isSet(part.key) {
			out = append(out, part.key)
		}
	}
	return out
}
