package httpapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
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

// TestLoginThrottleParallel: 40 wrong passwords for one account at once
// get at most 5 answers 401 (the attempts that reached bcrypt) and 429 with
// Retry-After for the rest; the right password is refused too until the
// window ends. On every backend.
func TestLoginThrottleParallel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		a.user("target@example.com", false)
		awayFromWindowEdge(time.Minute)
		var (
			mu     sync.Mutex
			counts = map[int]int{}
			wg     sync.WaitGroup
		)
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := a.do("POST", "/api/login", "", map[string]any{"email": "target@example.com", "password": "wrong-password"})
				mu.Lock()
				defer mu.Unlock()
				counts[res.Status]++
				if res.Status == 429 {
					if res.Header.Get("Retry-After") == "" || res.errCode() != "rate_limited" {
						t.Errorf("429 without Retry-After or code: %v %s", res.Header, res.Raw)
					}
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 40, counts[401]+counts[429], "every answer is 401 or 429: %v", counts)
		require.LessOrEqual(t, counts[401], 5, "%v", counts)
		require.GreaterOrEqual(t, counts[401], 1, "%v", counts)
		res := a.do("POST", "/api/login", "", map[string]any{"email": "target@example.com", "password": "secret123"})
		require.Equal(t, 429, res.Status, "the right password is counted too")
	})
}

// TestLoginLongEmail: an email longer than 255 characters is refused with
// 422 before anything is looked up or counted.
func TestLoginLongEmail(t *testing.T) {
	a := newAPI(t, store.SQLite, nil)
	long := strings.Repeat("a", 250) + "@example.com"
	for range 10 {
		res := a.do("POST", "/api/login", "", map[string]any{"email": long, "password": "secret123"})
		require.Equal(t, 422, res.Status, string(res.Raw))
		require.Contains(t, res.fields(), "email")
	}
	var rows int
	require.NoError(t, a.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM queue_rate_limits").Scan(&rows))
	require.Zero(t, rows, "nothing was counted")
}

// TestRegisterThrottle: REGISTER_RATE_LIMIT registrations per address per
// hour; a form with mistakes costs nothing; past the limit 429 with
// Retry-After and no account is created.
func TestRegisterThrottle(t *testing.T) {
	a := newAPIWith(t, store.SQLite, map[string]string{"REGISTER_RATE_LIMIT": "2"}, nil)
	awayFromWindowEdge(time.Hour)
	for range 3 {
		res := a.do("POST", "/api/register", "", map[string]any{"name": "X", "email": "not-an-email", "password": "rahasia123"})
		require.Equal(t, 422, res.Status)
	}
	for i, email := range []string{"r1@example.com", "r2@example.com"} {
		res := a.do("POST", "/api/register", "", map[string]any{"name": "R", "email": email, "password": "rahasia123"})
		require.Equal(t, 201, res.Status, "registration %d: %s", i, res.Raw)
	}
	res := a.do("POST", "/api/register", "", map[string]any{"name": "R", "email": "r3@example.com", "password": "rahasia123"})
	require.Equal(t, 429, res.Status)
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	_, err := a.db.UserGetByEmail(context.Background(), "r3@example.com")
	require.Error(t, err, "no account past the limit")

	// 0 turns the limit off.
	b := newAPIWith(t, store.SQLite, map[string]string{"REGISTER_RATE_LIMIT": "0", "LOGIN_RATE_LIMIT": "0", "LOGIN_IP_RATE_LIMIT": "0"}, nil)
	for i := range 12 {
		res := b.do("POST", "/api/register", "", map[string]any{"name": "R", "email": "n" + string(rune('a'+i)) + "@example.com", "password": "rahasia123"})
		require.Equal(t, 201, res.Status)
		require.Equal(t, 401, b.do("POST", "/api/login", "", map[string]any{"email": "na@example.com", "password": "wrong-password"}).Status)
	}
}

// TestTrustedProxies: behind a trusted proxy, the limits count the
// forwarded client address; without TRUSTED_PROXIES the header is the
// client's own word and every request counts against the connection.
func TestTrustedProxies(t *testing.T) {
	register := func(a *api, i int, forwarded string) int {
		return a.do("POST", "/api/register", "", map[string]any{"name": "P", "email": "p" + string(rune('a'+i)) + "@example.com", "password": "rahasia123"},
			"X-Forwarded-For", forwarded).Status
	}
	awayFromWindowEdge(time.Hour)
	ignored := newAPIWith(t, store.SQLite, map[string]string{"REGISTER_RATE_LIMIT": "1"}, nil)
	require.Equal(t, 201, register(ignored, 0, "203.0.113.1"))
	require.Equal(t, 429, register(ignored, 1, "203.0.113.2"), "a forged header does not buy a new limit")

	behind := newAPIWith(t, store.SQLite, map[string]string{"REGISTER_RATE_LIMIT": "1", "TRUSTED_PROXIES": "127.0.0.1/32,::1"}, nil)
	require.Equal(t, 201, register(behind, 0, "203.0.113.1"))
	require.Equal(t, 201, register(behind, 1, "203.0.113.2"))
	require.Equal(t, 429, register(behind, 2, "203.0.113.2"))
	require.Equal(t, 429, register(behind, 3, "198.51.100.1, 203.0.113.2"), "the left part is the client's to forge")
	require.Contains(t, behind.logs.String(), `"remote":"203.0.113.2"`)
}

// TestTokenLifecycle: a token lives AUTH_TOKEN_TTL from its login, then
// stops working; a token from before tokens had an expiry obeys the same
// lifetime; logout revokes the token in use, logout-all every token; a
// password change revokes every token and hands out a new one.
func TestTokenLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPIWith(t, d, map[string]string{"AUTH_TOKEN_TTL": "90m"}, nil)
		ctx := context.Background()
		u, _ := a.user("life@example.com", false)
		login := func(pw string) string {
			t.Helper()
			res := a.do("POST", "/api/login", "", map[string]any{"email": "life@example.com", "password": pw})
			require.Equal(t, 200, res.Status, string(res.Raw))
			return res.Body["token"].(string)
		}
		t1 := login("secret123")
		var created, expires time.Time
		require.NoError(t, a.db.QueryRowContext(ctx, a.db.Rebind("SELECT created_at, expires_at FROM personal_access_tokens WHERE token = ?"),
			booking.HashToken(t1)).Scan(&created, &expires))
		require.Equal(t, 90*time.Minute, expires.Sub(created), "absolute lifetime from the login")

		// Expired: the lifetime has passed.
		t2 := login("secret123")
		require.Equal(t, 200, a.do("GET", "/api/me", t2, nil).Status)
		_, err := a.db.ExecContext(ctx, a.db.Rebind("UPDATE personal_access_tokens SET expires_at = ? WHERE token = ?"),
			time.Now().UTC().Add(-time.Second), booking.HashToken(t2))
		require.NoError(t, err)
		require.Equal(t, 401, a.do("GET", "/api/me", t2, nil).Status)

		// Tokens without an expiry: valid within the lifetime of their
		// creation, not after.
		old, young := booking.NewToken(), booking.NewToken()
		now := time.Now().UTC()
		require.NoError(t, a.db.TokenCreate(ctx, u.ID, "legacy", booking.HashToken(old), now.Add(-2*time.Hour), time.Time{}))
		require.NoError(t, a.db.TokenCreate(ctx, u.ID, "legacy", booking.HashToken(young), now.Add(-time.Hour), time.Time{}))
		require.Equal(t, 401, a.do("GET", "/api/me", old, nil).Status)
		require.Equal(t, 200, a.do("GET", "/api/me", young, nil).Status)

		// Logout revokes the token in use only.
		t3 := login("secret123")
		require.Equal(t, 200, a.do("POST", "/api/logout", t1, nil).Status)
		require.Equal(t, 401, a.do("GET", "/api/me", t1, nil).Status)
		require.Equal(t, 200, a.do("GET", "/api/me", t3, nil).Status)

		// Logout-all revokes every one of the user's, not another user's.
		_, other := a.user("other@example.com", false)
		res := a.do("POST", "/api/logout-all", t3, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		require.EqualValues(t, 5, res.data()["revoked"], "t3, t2 (expired, not yet pruned), young, old and the fixture's token")
		for _, tok := range []string{t3, young} {
			require.Equal(t, 401, a.do("GET", "/api/me", tok, nil).Status)
		}
		require.Equal(t, 200, a.do("GET", "/api/me", other, nil).Status)
		require.Equal(t, 401, a.do("POST", "/api/logout-all", t3, nil).Status)
	})
}

// TestPasswordChange: the current password must be right; a change
// revokes every token, the new password logs in and the old one no
// longer does.
func TestPasswordChange(t *testing.T) {
	// Each check of the current password counts as a login attempt.
	a := newAPIWith(t, store.SQLite, map[string]string{"LOGIN_RATE_LIMIT": "20"}, nil)
	_, tok := a.user("pw@example.com", false)
	res := a.do("POST", "/api/login", "", map[string]any{"email": "pw@example.com", "password": "secret123"})
	require.Equal(t, 200, res.Status)
	second := res.Body["token"].(string)

	res = a.do("PUT", "/api/me/password", tok, map[string]any{"current_password": "wrong-one", "password": "brand-new-secret"})
	require.Equal(t, 422, res.Status)
	require.Contains(t, res.fields(), "current_password")
	res = a.do("PUT", "/api/me/password", tok, map[string]any{"current_password": "secret123", "password": "short"})
	require.Equal(t, 422, res.Status)
	require.Contains(t, res.fields(), "password")
	require.Equal(t, 200, a.do("GET", "/api/me", second, nil).Status, "a refused change revokes nothing")

	res = a.do("PUT", "/api/me/password", tok, map[string]any{"current_password": "secret123", "password": "brand-new-secret", "password_confirmation": "brand-new-secret"})
	require.Equal(t, 200, res.Status, string(res.Raw))
	fresh := res.Body["token"].(string)
	require.NotContains(t, string(res.Raw), "password\":")
	for _, old := range []string{tok, second} {
		require.Equal(t, 401, a.do("GET", "/api/me", old, nil).Status)
	}
	require.Equal(t, 200, a.do("GET", "/api/me", fresh, nil).Status)
	require.Equal(t, 401, a.do("POST", "/api/login", "", map[string]any{"email": "pw@example.com", "password": "secret123"}).Status)
	require.Equal(t, 200, a.do("POST", "/api/login", "", map[string]any{"email": "pw@example.com", "password": "brand-new-secret"}).Status)
}
