package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// withLimiter replaces the fixture's service with one that counts rejected
// notifications in the database, as serve wires it.
func withLimiter(t testing.TB, f *fixture) {
	t.Helper()
	svc, err := New(Params{DB: f.db, Config: f.cfg, Client: f.fake.Client(), Limiter: dbdriver.NewAdmin(f.db.DB)})
	require.NoError(t, err)
	f.svc = svc
}

// TestRejectedNotificationsBounded floods the callback with rejected
// notifications (forged 60 KB bodies, binary garbage, unknown orders),
// first from one address, then from one address each, on every backend:
// the table keeps at most PAYMENT_REJECTED_STORE_LIMIT rows of at most
// 1 KiB of body each, an address past PAYMENT_REJECTED_RATE_LIMIT is
// answered 429 with Retry-After and stores nothing more, an IPv6 /64
// counts as one address, and a genuine notification from a throttled
// address still pays. The 100,000 callbacks run with
// TRIPIN_LONG_TESTS=1 (SQLite); CI sends 1,000.
func TestRejectedNotificationsBounded(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		total := 1000
		if os.Getenv("TRIPIN_LONG_TESTS") == "1" && d == store.SQLite {
			total = 100_000
		}
		const perAddress, stored = 5, 40
		f := newFixture(t, d, withEnv("PAYMENT_REJECTED_RATE_LIMIT", strconv.Itoa(perAddress)),
			withEnv("PAYMENT_REJECTED_STORE_LIMIT", strconv.Itoa(stored)))
		withLimiter(t, f)
		srv := testServer(t, f)
		user := f.user(t)
		id, code := f.booking(t, f.tour(t, 10), user, 2, booking.StatusPending, false)
		cb := srv.URL + "/api/midtrans/callback"

		rng := rand.New(rand.NewPCG(1, 2))
		padding := strings.Repeat("x", 60_000)
		bad := func(i int) (body []byte, want int) {
			switch i % 3 {
			case 0: // A forged settlement, as large as a body may be.
				s := strings.Replace(string(signed(code, 300000, "settlement", "")), `"signature_key":"`, `"padding":"`+padding+`","signature_key":"0`, 1)
				return []byte(s), http.StatusForbidden
			case 1: // Binary garbage: invalid UTF-8 and NULs.
				b := make([]byte, 2000)
				for j := range b {
					b[j] = byte(rng.IntN(256))
				}
				return b, http.StatusBadRequest
			}
			return signed(fmt.Sprintf("TRP-NOPE%d", i), 300000, "settlement", ""), http.StatusNotFound
		}
		post := func(body []byte, ip string) *http.Response {
			req, err := http.NewRequest("POST", cb, strings.NewReader(string(body)))
			require.NoError(t, err)
			req.Header.Set("X-Test-Client-IP", ip)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			return res
		}
		sent := map[string]bool{} // SHA-256 of every body sent
		statuses := map[int]int{}
		send := func(i int, ip string) int {
			body, want := bad(i)
			sum := sha256.Sum256(body)
			sent[hex.EncodeToString(sum[:])] = true
			res := post(body, ip)
			statuses[res.StatusCode]++
			if res.StatusCode == http.StatusTooManyRequests {
				secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
				require.NoError(t, err, "Retry-After in seconds")
				require.True(t, secs >= 1 && secs <= 60, "Retry-After %d", secs)
			} else {
				require.Equal(t, want, res.StatusCode, "request %d from %s", i, ip)
			}
			return res.StatusCode
		}

		// The limits count in fixed windows of the database clock (a
		// minute per address, an hour for storing): a phase that crosses
		// a window's end may see its limit twice.
		began := time.Now()
		answered := func(from time.Time, n int, ip func(i int) string) int {
			allowed := 0
			for i := range n {
				got := send(i, ip(i))
				if got != http.StatusTooManyRequests {
					allowed++
				}
				if i < perAddress {
					require.NotEqual(t, http.StatusTooManyRequests, got, "request %d within the limit", i)
				}
			}
			require.GreaterOrEqual(t, allowed, min(n, perAddress))
			require.LessOrEqual(t, allowed, perAddress*windows(from, time.Now(), time.Minute), "throttled past the limit")
			return allowed
		}
		// Half from one address: its first few are answered and stored,
		// the rest throttled.
		stored1 := answered(time.Now(), total/2, func(int) string { return "198.51.100.7" })
		// One IPv6 /64 is one address.
		answered(time.Now(), 2*perAddress, func(i int) string { return fmt.Sprintf("2001:db8:0:1::%x", i+1) })
		require.Positive(t, statuses[http.StatusTooManyRequests])
		// The other half from one address each: none is throttled unless
		// its bucket of addresses (addressBuckets) has been sent more than
		// the limit (the long run's 50,000 addresses fill them), and past
		// the store limit none is stored.
		hits := map[string]int{addressBucket("198.51.100.7"): total / 2, addressBucket("2001:db8:0:1::1"): 2 * perAddress}
		for i := range total / 2 {
			ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
			hits[addressBucket(ip)]++
			if got := send(i, ip); hits[addressBucket(ip)] <= perAddress {
				require.NotEqual(t, http.StatusTooManyRequests, got, "%s is counted apart", ip)
			}
		}
		t.Logf("%s: %d rejected callbacks answered %v", d, total+2*perAddress, statuses)
		require.Greater(t, stored1+total/2, stored, "more were answered than may be stored")

		// The bound: at most `stored` rows, each with at most 1 KiB of
		// body, the whole body's hash and size, the reason and address.
		ctx := context.Background()
		rows, err := f.db.QueryContext(ctx, "SELECT outcome, payload, payload_sha256, payload_bytes, reason, remote_ip FROM payment_notifications")
		require.NoError(t, err)
		n, bytes, big := 0, 0, 0
		for rows.Next() {
			var outcome, payload, sum, reason, ip string
			var size int
			require.NoError(t, rows.Scan(&outcome, &payload, &sum, &size, &reason, &ip))
			n++
			bytes += len(payload)
			require.LessOrEqual(t, len(payload), RejectedPayloadBytes)
			require.True(t, sent[sum], "the hash is of a body that was sent")
			require.Contains(t, RejectedOutcomes(), Outcome(outcome))
			require.NotEmpty(t, reason)
			require.NotEmpty(t, ip)
			if size > 50_000 {
				big++
				require.Greater(t, len(payload), RejectedPayloadBytes-4, "a large body keeps its first KiB")
			}
		}
		require.NoError(t, rows.Err())
		rows.Close()
		hours := windows(began, time.Now(), time.Hour)
		if hours == 1 {
			require.Equal(t, stored, n, "rows kept")
		}
		require.LessOrEqual(t, n, stored*hours, "rows kept")
		require.LessOrEqual(t, bytes, n*RejectedPayloadBytes)
		require.Positive(t, big, "some stored bodies were large")
		// The limiter's own rows are bounded too, however many addresses.
		var counters int
		require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM queue_rate_limits").Scan(&counters))
		require.LessOrEqual(t, counters, addressBuckets+1)
		t.Logf("%s: %d rows, %d bytes of body kept; %d limiter rows", d, n, bytes, counters)

		// Nothing changed, and a genuine notification from the throttled
		// address is still applied.
		require.Equal(t, booking.StatusPending, f.state(t, id).Status)
		res := post(f.notify(code, 300000, "settlement", ""), "198.51.100.7")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, booking.StatusPaid, f.state(t, id).Status)
		requireInvariant(t, f.db)
	})
}

// windows counts the fixed windows of period that [from, to] touches.
func windows(from, to time.Time, period time.Duration) int {
	return int(to.Truncate(period).Sub(from.Truncate(period))/period) + 1
}

// TestRejectedLimitsOff: 0 turns each limit off.
func TestRejectedLimitsOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite, withEnv("PAYMENT_REJECTED_RATE_LIMIT", "0"), withEnv("PAYMENT_REJECTED_STORE_LIMIT", "0"))
	withLimiter(t, f)
	ctx := context.Background()
	for i := range 50 {
		out, err := f.svc.Receive(ctx, Delivery{Body: []byte("nope"), RemoteIP: "198.51.100.9"})
		require.Error(t, err, "request %d", i)
		require.Equal(t, OutcomeMalformed, out)
	}
	var n int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM payment_notifications").Scan(&n))
	require.Equal(t, 50, n)
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":            "198.51.100.7",
		"::ffff:198.51.100.7":     "198.51.100.7",
		"2001:db8:0:1::1":         "2001:db8:0:1::/64",
		"2001:db8:0:1:ffff:1:2:3": "2001:db8:0:1::/64",
		"2001:db8:0:2::1":         "2001:db8:0:2::/64",
		"fe80::1%eth0":            "fe80::/64",
		"not an address":          "not an address",
		strings.Repeat("a", 100):  strings.Repeat("a", 64),
		"":                        "",
	} {
		require.Equal(t, want, addressKey(in), in)
	}
}

// TestAddressBuckets: an address always counts in the same bucket, an
// IPv6 /64 in one, and a million addresses in at most addressBuckets.
func TestAddressBuckets(t *testing.T) {
	require.Equal(t, addressBucket("198.51.100.7"), addressBucket("198.51.100.7"))
	require.Equal(t, addressBucket("2001:db8:0:1::1"), addressBucket("2001:db8:0:1::abcd"))
	seen := map[string]bool{}
	for i := range 1 << 20 {
		seen[addressBucket(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))] = true
	}
	require.Len(t, seen, addressBuckets, "a million addresses fill every bucket and no more")
}

func TestHeadUTF8(t *testing.T) {
	require.Equal(t, "abc", string(headUTF8([]byte("abc"), 5)))
	require.Equal(t, "ab", string(headUTF8([]byte("abc"), 2)))
	// "é" is two bytes: a cut inside it moves before it.
	require.Equal(t, "a", string(headUTF8([]byte("aé"), 2)))
	require.Equal(t, "aé", string(headUTF8([]byte("aéb"), 3)))
	// Binary input is cut at n whatever it holds.
	require.Len(t, headUTF8([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, 5), 5)
}

// TestRetryAfterSeconds rounds up, at least one second.
func TestRetryAfterSeconds(t *testing.T) {
	require.Equal(t, "1", (&RetryAfterError{}).Seconds())
	require.Equal(t, "1", (&RetryAfterError{RetryAfter: 300 * time.Millisecond}).Seconds())
	require.Equal(t, "42", (&RetryAfterError{RetryAfter: 41*time.Second + time.Millisecond}).Seconds())
}

// TestStatusCodeFitsEveryRewrite: every signed status replayed as another
// status with a different status_code is refused, unless the other status
// changes nothing, and every genuine pair passes.
func TestStatusCodeFitsEveryRewrite(t *testing.T) {
	type st struct{ status, fraud string }
	all := []st{{"settlement", ""}, {"capture", "accept"}, {"capture", "challenge"}, {"capture", "deny"}, {"pending", ""},
		{"authorize", ""}, {"deny", ""}, {"cancel", ""}, {"expire", ""}, {"failure", ""}, {"refund", ""}, {"partial_refund", ""}}
	for _, from := range all {
		code := midtrans.StatusCodeFor(from.status, from.fraud)
		require.True(t, midtrans.StatusCodeFits(code, from.status, from.fraud), "%v with its own code %s", from, code)
		for _, to := range all {
			if midtrans.StatusCodeFor(to.status, to.fraud) == code {
				continue
			}
			if midtrans.StatusCodeFits(code, to.status, to.fraud) {
				// Where two codes are allowed, only statuses that change
				// nothing may be reached by a rewrite.
				require.Contains(t, []booking.Event{booking.EventPending, booking.EventChallenge}, eventFor(to.status, to.fraud), "%v (%s) replayed as %v", from, code, to)
			}
		}
	}
	require.True(t, midtrans.StatusCodeFits("200", "chargeback", ""), "statuses never acted on are not checked")
}
