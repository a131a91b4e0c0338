// Package throttle limits the requests that guess or flood accounts:
// logins, per account and per client address, and registrations, per
// client address. The counters are the queue's fixed-window limiter
// (driver.RateLimiter's RateLimitHit): rows of queue_rate_limits in the
// database, or keys with a TTL in Redis when that is the queue
// connection. Every web server therefore shares them, and no process
// keeps a map of clients that could grow without bound.
//
// Each attempt is counted before it is acted on (before bcrypt runs for a
// login), so that parallel requests cannot slip past the limit between the
// check and the count: of 40 simultaneous guesses at one account with a
// limit of 5, exactly 5 reach the password check.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/queue/driver"
)

// Limiter counts hits on the fixed-window limiter every server shares.
type Limiter = driver.RateLimiter

// Limits are the ceilings; 0 turns one off.
type Limits struct {
	// LoginPerAccount is the login attempts one account may receive per
	// minute (LOGIN_RATE_LIMIT).
	LoginPerAccount int
	// LoginPerAddress is the login attempts one client address may make
	// per minute over all accounts (LOGIN_IP_RATE_LIMIT).
	LoginPerAddress int
	// RegisterPerAddress is the registrations one client address may make
	// per hour (REGISTER_RATE_LIMIT).
	RegisterPerAddress int
}

// Throttle applies Limits with a Limiter. A nil *Throttle, or one without
// a Limiter, limits nothing.
type Throttle struct {
	lim    Limiter
	limits Limits
}

// New returns a Throttle.
func New(lim Limiter, limits Limits) *Throttle {
	return &Throttle{lim: lim, limits: limits}
}

// The limiter keys. Accounts are keyed by a hash of the normalized email,
// so that the table holds no address and every key has the same length.
const (
	loginAccountKey  = "auth:login:account:"
	loginAddressKey  = "auth:login:ip:"
	registerAddrKey  = "auth:register:ip:"
	loginPeriod      = time.Minute
	registerPeriod   = time.Hour
	maxAddressKeyLen = 64
)

// RetryAfterError is inside the error of a request refused by a limit:
// the HTTP layer answers 429 with Retry-After from it.
type RetryAfterError struct {
	RetryAfter time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("throttle: limit reached; retry after %s", e.RetryAfter)
}

// Seconds is RetryAfter in whole seconds, at least 1, as Retry-After
// spells it.
func (e *RetryAfterError) Seconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

// Header is Seconds as the Retry-After header's value.
func (e *RetryAfterError) Header() string { return strconv.Itoa(e.Seconds()) }

// Login counts a login attempt for email (already normalized) from the
// client address ip: first against the address's ceiling, then against
// the account's, so that an address past its ceiling spends nothing of
// the account's. It returns an ERATELIMITED error (with a
// *RetryAfterError inside) when either is reached, and the limiter's
// error when it cannot count: a login that cannot be counted is not
// checked.
func (t *Throttle) Login(ctx context.Context, email, ip string) error {
	if t == nil || t.lim == nil {
		return nil
	}
	if err := t.hit(ctx, loginAddressKey+AddressKey(ip), t.limits.LoginPerAddress, loginPeriod,
		"Too many login attempts from your network. Please try again in %d seconds."); err != nil {
		return err
	}
	return t.hit(ctx, loginAccountKey+accountKey(email), t.limits.LoginPerAccount, loginPeriod,
		"Too many login attempts for this account. Please try again in %d seconds.")
}

// Register counts a registration from the client address ip.
func (t *Throttle) Register(ctx context.Context, ip string) error {
	if t == nil || t.lim == nil {
		return nil
	}
	return t.hit(ctx, registerAddrKey+AddressKey(ip), t.limits.RegisterPerAddress, registerPeriod,
		"Too many accounts were registered from your network. Please try again in %d seconds.")
}

func (t *Throttle) hit(ctx context.Context, key string, limit int, period time.Duration, message string) error {
	if limit <= 0 {
		return nil
	}
	res, err := t.lim.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: key, Limit: limit, Period: period})
	if err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	if res.Allowed {
		return nil
	}
	ra := &RetryAfterError{RetryAfter: res.RetryAfter}
	return &apperr.Error{Code: apperr.ERATELIMITED, Message: fmt.Sprintf(message, ra.Seconds()), Err: ra}
}

// accountKey is the limiter key of an account: the first 128 bits of the
// SHA-256 of its normalized email.
func accountKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:16])
}

// AddressKey is the unit a client address is counted per: an IPv4
// address, or the /64 network of an IPv6 address (one subscriber's
// allocation, which holds more addresses than any limit could count).
// Anything else counts as itself, cut to 64 bytes.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > maxAddressKeyLen {
			ip = ip[:maxAddressKeyLen]
		}
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
