package secheaders

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSetAndMiddleware(t *testing.T) {
	h := Middleware(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/page" {
			Set(w, r, DashboardPolicy)
		}
		http.Error(w, "nope", http.StatusNotFound)
	}))
	for _, tc := range []struct {
		path, csp string
		https     bool
	}{
		{"/api", APIPolicy, false},
		{"/page", DashboardPolicy, false},
		{"/api", APIPolicy, true},
		{"/page", DashboardPolicy, true},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.https {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, 404, w.Code)
		hd := w.Header()
		require.Equal(t, tc.csp, hd.Get("Content-Security-Policy"))
		require.Contains(t, hd.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		require.Equal(t, "nosniff", hd.Get("X-Content-Type-Options"))
		require.Equal(t, "DENY", hd.Get("X-Frame-Options"))
		require.Equal(t, "same-origin", hd.Get("Referrer-Policy"))
		if tc.https {
			require.Equal(t, HSTSValue, hd.Get("Strict-Transport-Security"))
		} else {
			require.Empty(t, hd.Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
		}
	}
	// A forwarded header from anyone is not believed.
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Empty(t, w.Header().Get("Strict-Transport-Security"))

	// The server's judgement of HTTPS (a trusted proxy's word) decides,
	// for the middleware and for pages that Set their own policy.
	proxied := Middleware(func(r *http.Request) bool { return r.Header.Get("X-Test-Proxy-HTTPS") == "1" },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { Set(w, r, DashboardPolicy) }))
	for _, on := range []bool{true, false} {
		r := httptest.NewRequest("GET", "/page", nil)
		if on {
			r.Header.Set("X-Test-Proxy-HTTPS", "1")
		}
		r.TLS = &tls.ConnectionState{} // not what decides once the server judges
		w := httptest.NewRecorder()
		proxied.ServeHTTP(w, r)
		require.Equal(t, on, w.Header().Get("Strict-Transport-Security") == HSTSValue)
		require.Equal(t, DashboardPolicy, w.Header().Get("Content-Security-Policy"))
	}
}

func TestPagePolicy(t *testing.T) {
	src := "<html><head><style>\nb{color:red}\n</style></head><body>{{.X}}<script>go()</script><style>i{}</style></body></html>"
	p := PagePolicy(src)
	require.Equal(t, "default-src 'none'; style-src "+Hash("\nb{color:red}\n")+" "+Hash("i{}")+
		"; script-src "+Hash("go()")+"; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", p)
	require.NotContains(t, p, "unsafe-inline")
	// The hash of the empty string, as browsers compute it.
	require.Equal(t, "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='", Hash(""))

	// Without inline code the page may run and style nothing inline.
	p = PagePolicy("<p>hi</p>")
	require.False(t, strings.Contains(p, "style-src") || strings.Contains(p, "script-src"), p)

	require.Panics(t, func() { PagePolicy("<style>b{color:{{.C}}}</style>") })
}
