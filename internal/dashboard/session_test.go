package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// awayFromMinuteEdge waits, when needed, until the current minute has 20
// seconds left: the limiter's windows are whole minutes of the clock.
func awayFromMinuteEdge() {
	if left := time.Minute - time.Duration(time.Now().UnixNano()%int64(time.Minute)); left < 20*time.Second {
		time.Sleep(left + time.Second)
	}
}

// TestLoginThrottle: the login form counts attempts before the password
// is checked, on the limiter the API uses (queue_rate_limits here): of 40
// parallel wrong passwords at most 5 are checked, the rest get 429 with
// Retry-After, and then the right password is refused too.
func TestLoginThrottle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		awayFromMinuteEdge()
		var (
			mu     sync.Mutex
			counts = map[int]int{}
			wg     sync.WaitGroup
		)
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := h.login("ops@example.com", "wrong password")
				mu.Lock()
				defer mu.Unlock()
				counts[w.Code]++
				if w.Code == http.StatusTooManyRequests && (w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "Too many login attempts")) {
					t.Errorf("429 without Retry-After or message: %v", w.Header())
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 40, counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests], "%v", counts)
		require.LessOrEqual(t, counts[http.StatusUnauthorized], 5, "%v", counts)
		w := h.login("ops@example.com", testPassword)
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		require.Nil(t, sessionCookie(w))
		var rows int
		require.NoError(t, h.db.QueryRowContext(context.Background(),
			"SELECT COUNT(*) FROM queue_rate_limits WHERE name LIKE 'auth:login:%'").Scan(&rows))
		require.Equal(t, 2, rows, "one counter for the account, one for the address")
	})
}

// TestLoginLongEmail: the form refuses an email over 255 characters
// before anything is looked up or counted.
func TestLoginLongEmail(t *testing.T) {
	h := newHarness(t, store.SQLite)
	w := h.login(strings.Repeat("o", 250)+"@example.com", testPassword)
	require.Equal(t, http.StatusUnprocessableEntity, w.Code)
	require.Contains(t, w.Body.String(), "255 characters")
	var rows int
	require.NoError(t, h.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM queue_rate_limits").Scan(&rows))
	require.Zero(t, rows)
}

// TestSecureCookieBehindProxy: the session cookie is Secure when a trusted
// proxy says the client came over https, and not when an untrusted client
// says so itself.
func TestSecureCookieBehindProxy(t *testing.T) {
	h := newHarness(t, store.SQLite)
	nets, err := config.ParseTrustedProxies("192.0.2.10")
	require.NoError(t, err)
	trusted := httpapi.NewTrustedProxies(nets)
	loginVia := func(remote string) *http.Cookie {
		t.Helper()
		w := h.do("GET", "/admin/login", nil)
		var lc *http.Cookie
		for _, c := range w.Result().Cookies() {
			if c.Name == "tripin_admin_login" {
				lc = c
			}
		}
		require.NotNil(t, lc)
		form := url.Values{"_csrf": {lc.Value}, "email": {"ops@example.com"}, "password": {testPassword}}
		r := httptest.NewRequest("POST", "/admin/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.RemoteAddr = remote + ":4321"
		r.AddCookie(lc)
		rec := httptest.NewRecorder()
		h.dash.ServeHTTP(rec, httpapi.WithClient(r, trusted))
		require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
		return sessionCookie(rec)
	}
	require.True(t, loginVia("192.0.2.10").Secure, "a trusted proxy says https")
	require.False(t, loginVia("198.51.100.3").Secure, "a client's own header is ignored")
}
