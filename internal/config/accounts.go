package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Accounts and sessions (issue 13, part A): login and registration
// limits, the lifetime of API tokens and the proxies whose forwarded
// headers are believed.

// The defaults of the account keys.
const (
	// DefaultLoginRateLimit lets one account be tried 5 times a minute,
	// successes included: enough for a person who mistypes, far too few
	// to guess a password.
	DefaultLoginRateLimit = 5
	// DefaultLoginIPRateLimit lets one client address try 30 logins a
	// minute over all accounts: an office behind one NAT logs in freely,
	// while spraying one password over many accounts is slowed down.
	DefaultLoginIPRateLimit = 30
	// DefaultRegisterRateLimit lets one client address create 10
	// accounts an hour.
	DefaultRegisterRateLimit = 10
	// DefaultAuthTokenTTL is how long an API token lives: a week after
	// the login that issued it.
	DefaultAuthTokenTTL = 7 * 24 * time.Hour
	// MinAuthTokenTTL and MaxAuthTokenTTL bound AUTH_TOKEN_TTL.
	MinAuthTokenTTL = 5 * time.Minute
	MaxAuthTokenTTL = 365 * 24 * time.Hour
)

// accounts reads the account keys into c.
func (p *parser) accounts(c *Config) {
	c.AuthTokenTTL = p.tokenTTL("AUTH_TOKEN_TTL")
	c.LoginRateLimit = p.intRange("LOGIN_RATE_LIMIT", DefaultLoginRateLimit, 0, 1_000_000)
	c.LoginIPRateLimit = p.intRange("LOGIN_IP_RATE_LIMIT", DefaultLoginIPRateLimit, 0, 1_000_000)
	c.RegisterRateLimit = p.intRange("REGISTER_RATE_LIMIT", DefaultRegisterRateLimit, 0, 1_000_000)
	nets, err := ParseTrustedProxies(p.str("TRUSTED_PROXIES", ""))
	if err != nil {
		p.fail("TRUSTED_PROXIES", err.Error())
	}
	c.TrustedProxies = nets
}

// tokenTTL reads AUTH_TOKEN_TTL: whole minutes, as Laravel Sanctum's
// expiration, or a Go duration such as 168h.
func (p *parser) tokenTTL(key string) time.Duration {
	v := p.str(key, "")
	if v == "" {
		return DefaultAuthTokenTTL
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Minute
	} else if d, err = time.ParseDuration(v); err != nil {
		p.fail(key, "must be a whole number of minutes or a duration such as 168h")
		return DefaultAuthTokenTTL
	}
	if d < MinAuthTokenTTL || d > MaxAuthTokenTTL {
		p.fail(key, fmt.Sprintf("must be between %d minutes and %d days", int(MinAuthTokenTTL/time.Minute), int(MaxAuthTokenTTL/(24*time.Hour))))
		return DefaultAuthTokenTTL
	}
	return d
}

// ParseTrustedProxies parses TRUSTED_PROXIES: networks in CIDR notation or
// single addresses, separated by commas ("127.0.0.1, 10.0.0.0/8,
// fd00::/8"). An empty string is the empty set: no proxy is trusted.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			n, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a network in CIDR notation (such as 10.0.0.0/8)", part)
			}
			if n.Addr().Is4In6() {
				n = netip.PrefixFrom(n.Addr().Unmap(), max(0, n.Bits()-96))
			}
			out = append(out, n.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or a network in CIDR notation", part)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// formatTrustedProxies renders the networks as TRUSTED_PROXIES spells
// them.
func formatTrustedProxies(nets []netip.Prefix) string {
	parts := make([]string, len(nets))
	for i, n := range nets {
		parts[i] = n.String()
	}
	return strings.Join(parts, ",")
}

// dumpAccounts adds the account keys to the values of a Dump.
func (c *Config) dumpAccounts(vals map[string]string) {
	vals["AUTH_TOKEN_TTL"] = strconv.Itoa(int(c.AuthTokenTTL / time.Minute))
	vals["LOGIN_RATE_LIMIT"] = strconv.Itoa(c.LoginRateLimit)
	vals["LOGIN_IP_RATE_LIMIT"] = strconv.Itoa(c.LoginIPRateLimit)
	vals["REGISTER_RATE_LIMIT"] = strconv.Itoa(c.RegisterRateLimit)
	vals["TRUSTED_PROXIES"] = formatTrustedProxies(c.TrustedProxies)
}
