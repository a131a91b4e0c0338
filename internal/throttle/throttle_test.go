package throttle_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/internal/throttle"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// awayFromWindowEdge waits, when needed, until the current window of
// period has at least 20 seconds left: the limiter's windows are aligned
// on the clock, and a test that counts attempts must not see one end
// midway.
func awayFromWindowEdge(period time.Duration) {
	if left := period - time.Duration(time.Now().UnixNano()%int64(period)); left < 20*time.Second {
		time.Sleep(left + time.Second)
	}
}

func retryAfter(t *testing.T, err error) *throttle.RetryAfterError {
	t.Helper()
	require.Equal(t, apperr.ERATELIMITED, apperr.Code(err), "%v", err)
	var ra *throttle.RetryAfterError
	require.True(t, errors.As(err, &ra))
	require.Positive(t, ra.Seconds())
	return ra
}

// TestLoginLimits: every attempt counts, successes too; an account's limit
// holds across addresses, an address's across accounts; an address past
// its ceiling spends nothing of an account's.
func TestLoginLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		ctx := context.Background()
		th := throttle.New(dbdriver.NewAdmin(db.DB), throttle.Limits{LoginPerAccount: 3, LoginPerAddress: 5})
		awayFromWindowEdge(time.Minute)

		// One account from three addresses: the third attempt is the last.
		for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			require.NoError(t, th.Login(ctx, "ayu@example.com", ip), "attempt %d", i)
		}
		ra := retryAfter(t, th.Login(ctx, "ayu@example.com", "192.0.2.4"))
		require.LessOrEqual(t, ra.RetryAfter, time.Minute)
		require.Contains(t, apperr.Message(th.Login(ctx, "ayu@example.com", "192.0.2.4")), "this account")

		// One address over many accounts (spraying): 5, then refused, and
		// the refused attempt did not count against the next account.
		for i := range 5 {
			require.NoError(t, th.Login(ctx, "user"+string(rune('a'+i))+"@example.com", "198.51.100.7"))
		}
		err := th.Login(ctx, "fresh@example.com", "198.51.100.7")
		retryAfter(t, err)
		require.Contains(t, apperr.Message(err), "your network")
		for i := range 3 {
			require.NoError(t, th.Login(ctx, "fresh@example.com", "203.0.113.1"), "attempt %d", i)
		}

		// Addresses of one IPv6 /64 share a ceiling; another /64 does not.
		for i := range 5 {
			require.NoError(t, th.Login(ctx, "v6-"+string(rune('a'+i))+"@example.com", "2001:db8:1:2::"+string(rune('1'+i))))
		}
		retryAfter(t, th.Login(ctx, "v6-z@example.com", "2001:db8:1:2:ffff::9"))
		require.NoError(t, th.Login(ctx, "v6-z@example.com", "2001:db8:1:3::1"))
	})
}

// TestRegisterLimit counts registrations per address per hour.
func TestRegisterLimit(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	th := throttle.New(dbdriver.NewAdmin(db.DB), throttle.Limits{RegisterPerAddress: 2})
	awayFromWindowEdge(time.Hour)
	require.NoError(t, th.Register(ctx, "192.0.2.1"))
	require.NoError(t, th.Register(ctx, "192.0.2.1"))
	ra := retryAfter(t, th.Register(ctx, "192.0.2.1"))
	require.LessOrEqual(t, ra.RetryAfter, time.Hour)
	require.NoError(t, th.Register(ctx, "192.0.2.2"))
}

// TestZeroIsNoLimit: 0 turns a limit off and writes nothing; a nil
// Throttle limits nothing.
func TestZeroIsNoLimit(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	th := throttle.New(dbdriver.NewAdmin(db.DB), throttle.Limits{})
	for range 50 {
		require.NoError(t, th.Login(ctx, "ayu@example.com", "192.0.2.1"))
		require.NoError(t, th.Register(ctx, "192.0.2.1"))
	}
	var rows int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM queue_rate_limits").Scan(&rows))
	require.Zero(t, rows)
	var none *throttle.Throttle
	require.NoError(t, none.Login(ctx, "a@example.com", "192.0.2.1"))
}

// TestLimiterDown: an attempt that cannot be counted is refused with the
// limiter's error, not let through.
func TestLimiterDown(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	th := throttle.New(dbdriver.NewAdmin(db.DB), throttle.Limits{LoginPerAccount: 5})
	require.NoError(t, db.Close())
	err := th.Login(context.Background(), "ayu@example.com", "192.0.2.1")
	require.Error(t, err)
	require.NotEqual(t, apperr.ERATELIMITED, apperr.Code(err))
}

func TestAddressKey(t *testing.T) {
	require.Equal(t, "192.0.2.1", throttle.AddressKey("192.0.2.1"))
	require.Equal(t, "192.0.2.1", throttle.AddressKey("::ffff:192.0.2.1"))
	require.Equal(t, "2001:db8:1:2::/64", throttle.AddressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))
	require.Len(t, throttle.AddressKey(string(make([]byte, 500))), 64)
}

func TestRetryAfterSeconds(t *testing.T) {
	require.Equal(t, 1, (&throttle.RetryAfterError{}).Seconds())
	require.Equal(t, 2, (&throttle.RetryAfterError{RetryAfter: 1500 * time.Millisecond}).Seconds())
	require.Equal(t, "60", (&throttle.RetryAfterError{RetryAfter: time.Minute}).Header())
}

// BenchmarkLogin measures what the throttle adds to a login: two counter
// updates (the address's, then the account's) in the database, before
// bcrypt, which costs about 50 ms at the default cost. Each iteration is
// another account from another address, so no limit is reached.
func BenchmarkLogin(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			th := throttle.New(dbdriver.NewAdmin(db.DB), throttle.Limits{LoginPerAccount: 5, LoginPerAddress: 30})
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				ip := "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
				if err := th.Login(ctx, "user"+strconv.Itoa(i)+"@example.com", ip); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
