package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/secheaders"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestSecurityHeaders: every answer of the server, JSON, errors and
// mounted HTML pages alike, carries the security headers; HSTS only over
// HTTPS.
func TestSecurityHeaders(t *testing.T) {
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	require.NoError(t, err)
	db := storetest.Open(t, store.SQLite)
	srv := httpapi.New(httpapi.Params{Config: cfg, DB: db, Logger: slog.New(slog.DiscardHandler),
		Mount: func(mux *http.ServeMux, s *httpapi.Server) {
			mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
				secheaders.Set(w, r, secheaders.DashboardPolicy)
				_, _ = w.Write([]byte("<p>page</p>"))
			})
		}})
	plain := httptest.NewServer(srv)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(srv)
	t.Cleanup(tlsSrv.Close)

	for _, c := range []struct {
		base   *httptest.Server
		path   string
		status int
		csp    string
	}{
		{plain, "/healthz", 200, secheaders.APIPolicy},
		{plain, "/api/nothing-here", 404, secheaders.APIPolicy},
		{plain, "/api/me", 401, secheaders.APIPolicy},
		{plain, "/page", 200, secheaders.DashboardPolicy},
		{tlsSrv, "/healthz", 200, secheaders.APIPolicy},
		{tlsSrv, "/page", 200, secheaders.DashboardPolicy},
	} {
		res, err := c.base.Client().Get(c.base.URL + c.path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, c.status, res.StatusCode, c.path)
		h := res.Header
		require.Equal(t, c.csp, h.Get("Content-Security-Policy"), c.path)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		require.Equal(t, "DENY", h.Get("X-Frame-Options"))
		require.Equal(t, "same-origin", h.Get("Referrer-Policy"))
		if c.base == tlsSrv {
			require.Equal(t, secheaders.HSTSValue, h.Get("Strict-Transport-Security"), c.path)
		} else {
			require.Empty(t, h.Get("Strict-Transport-Security"), c.path)
		}
	}
}

// TestHSTSBehindTrustedProxy: X-Forwarded-Proto: https brings HSTS only
// from a proxy listed in TRUSTED_PROXIES.
func TestHSTSBehindTrustedProxy(t *testing.T) {
	for _, c := range []struct {
		proxies string
		hsts    bool
	}{{"127.0.0.1/32,::1", true}, {"", false}, {"10.0.0.0/8", false}} {
		cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": "", "TRUSTED_PROXIES": c.proxies})
		require.NoError(t, err)
		srv := httptest.NewServer(httpapi.New(httpapi.Params{Config: cfg, DB: storetest.Open(t, store.SQLite), Logger: slog.New(slog.DiscardHandler)}))
		req, err := http.NewRequest("GET", srv.URL+"/healthz", nil)
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		res.Body.Close()
		srv.Close()
		if c.hsts {
			require.Equal(t, secheaders.HSTSValue, res.Header.Get("Strict-Transport-Security"), c.proxies)
		} else {
			require.Empty(t, res.Header.Get("Strict-Transport-Security"), c.proxies)
		}
	}
}
