package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/queue/driver"
)

// RejectedPayloadBytes is how much of a rejected notification's body is
// kept: enough to read what was sent (a real notification is about one
// kilobyte), bounded whatever was sent. The SHA-256 of the whole body is
// kept beside it.
const RejectedPayloadBytes = 1024

// RateLimiter counts hits on the fixed-window limiter every server shares:
// the queue's database limiter (queue_rate_limits, on the database clock).
type RateLimiter = driver.RateLimiter

// The limiter keys of rejected notifications.
const (
	rejectedPerAddressKey = "payment:rejected:"
	rejectedStoredKey     = "payment:rejected-stored"
)

// addressBuckets is how many counters the per-address limit spreads the
// addresses over. Each counter is a row of queue_rate_limits, deleted only
// by the hourly prune once its window is over, so the addresses are hashed
// into a fixed number of them: a
// flood from a million addresses leaves at most this many rows. Two
// addresses that share a bucket share a limit, which is harmless: the
// limit only ever applies to rejected notifications, never to genuine
// ones.
const addressBuckets = 4096

// addressBucket returns the limiter key of an address.
func addressBucket(ip string) string {
	sum := sha256.Sum256([]byte(addressKey(ip)))
	return fmt.Sprintf("%s%03x", rejectedPerAddressKey, (int(sum[0])<<8|int(sum[1]))%addressBuckets)
}

// RetryAfterError is inside the error of a notification answered 429: the
// HTTP handler sets Retry-After from it.
type RetryAfterError struct {
	RetryAfter time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("payment: too many rejected notifications from this address; retry after %s", e.RetryAfter)
}

// Seconds is RetryAfter in whole seconds, at least 1, as Retry-After
// spells it.
func (e *RetryAfterError) Seconds() string {
	return strconv.Itoa(max(1, int((e.RetryAfter+time.Second-1)/time.Second)))
}

// RejectedOutcomes are the outcomes of the notifications answered with a
// 4xx and that changed nothing: a bad signature, an unknown order or
// transaction, a body that is not a notification, an amount or a status
// that does not match. Anyone can post them, so they are kept as bounded
// records and for a much shorter time
// (PAYMENT_REJECTED_NOTIFICATIONS_RETENTION_DAYS) than the rest, the
// payment audit trail. A notification that failed on Tripin's side (a
// failed status check, an error) is not rejected: Midtrans sends it again,
// and its trace belongs with the payment's.
func RejectedOutcomes() []Outcome {
	return []Outcome{OutcomeBadSignature, OutcomeUnknownOrder, OutcomeMalformed, OutcomeAmountMismatch,
		OutcomeStatusMismatch, OutcomeUnknownTransaction}
}

// newRecord starts the stored record of a delivery: the whole body, its
// size and hash, and the sender's address.
func newRecord(d Delivery, received time.Time) notificationRecord {
	sum := sha256.Sum256(d.Body)
	return notificationRecord{
		Payload: d.Body, PayloadSHA256: hex.EncodeToString(sum[:]), PayloadBytes: len(d.Body),
		RemoteIP: clip(d.RemoteIP, 64), ReceivedAt: received,
	}
}

// reject answers a notification that changes nothing, after counting it
// against its address's limit and storing it as a bounded record. The
// order matters: the limiter is asked before anything is written, so an
// address past its limit costs one counter update and stores nothing. If
// the limiter cannot be asked, the rejection is answered but not stored:
// nothing that cannot be counted may grow the table. The log follows the
// table: a warning per stored rejection, and one when the store limit is
// reached; the rest is at debug level.
func (s *Service) reject(ctx context.Context, rec notificationRecord, out Outcome, reason string, answer error) (Outcome, error) {
	logArgs := []any{"outcome", string(out), "reason", reason, "order_id", clip(rec.OrderID, 64), "remote_ip", rec.RemoteIP}
	store := true
	if s.limiter != nil && s.rejectedPerMinute > 0 && rec.RemoteIP != "" {
		res, err := s.limiter.RateLimitHit(ctx, &driver.RateLimitHitParams{
			Key: addressBucket(rec.RemoteIP), Limit: s.rejectedPerMinute, Period: time.Minute})
		switch {
		case err != nil:
			s.log.ErrorContext(ctx, "payment: count rejected notification", append(logArgs, "err", err)...)
			store = false
		case !res.Allowed:
			// Not logged one by one: a flood must not fill the log
			// either. The last one let through said so.
			return OutcomeThrottled, &apperr.Error{Code: apperr.ERATELIMITED,
				Message: "Too many rejected notifications from this address; retry later.",
				Err:     &RetryAfterError{RetryAfter: res.RetryAfter}}
		case res.Remaining == 0:
			// Said with the record below, if it is stored: the log, too,
			// grows no faster than the table.
			logArgs = append(logArgs, "address_limit_reached", true, "limit_per_minute", s.rejectedPerMinute)
		}
	}
	if store && s.limiter != nil && s.rejectedStorePerHour > 0 {
		res, err := s.limiter.RateLimitHit(ctx, &driver.RateLimitHitParams{
			Key: rejectedStoredKey, Limit: s.rejectedStorePerHour, Period: time.Hour})
		switch {
		case err != nil:
			s.log.ErrorContext(ctx, "payment: count stored rejected notification", append(logArgs, "err", err)...)
			store = false
		case !res.Allowed:
			store = false
		case res.Remaining == 0:
			s.log.WarnContext(ctx, "payment: rejected notifications reached the store limit; the rest of the hour's are answered but not stored",
				append(logArgs, "limit_per_hour", s.rejectedStorePerHour)...)
		}
	}
	if !store {
		s.log.DebugContext(ctx, "payment: notification rejected, not stored", logArgs...)
		return out, answer
	}
	now := s.now().UTC()
	rec.Outcome, rec.Reason, rec.ProcessedAt = out, clip(reason, 255), &now
	// Cut after sanitizing: the invalid bytes of a binary body become
	// three-byte replacement characters, which must not stretch the bound.
	rec.Payload = headUTF8([]byte(sanitize(string(rec.Payload[:min(len(rec.Payload), RejectedPayloadBytes)]))), RejectedPayloadBytes)
	if err := s.storeNotification(ctx, rec); err != nil {
		return out, err
	}
	s.log.WarnContext(ctx, "payment: notification rejected", logArgs...)
	return out, answer
}

// addressKey is the unit rejected notifications are counted per: an IPv4
// address, or the /64 network of an IPv6 address (one subscriber's
// allocation, which holds more addresses than any limit could count).
// Anything else, say a unix socket's empty address, counts as itself.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return clip(ip, 64)
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// headUTF8 returns at most n bytes of b, cut at a character boundary when
// b is text, so that what is stored is still readable.
func headUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	cut := n
	for cut > n-utf8.UTFMax && cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	if cut <= n-utf8.UTFMax {
		cut = n
	}
	return b[:cut]
}
