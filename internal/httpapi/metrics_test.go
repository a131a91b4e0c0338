package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// observation is one ObserveHTTP call.
type observation struct {
	method, route string
	status        int
	d             time.Duration
}

// recordingObserver keeps every observation.
type recordingObserver struct {
	mu  sync.Mutex
	obs []observation
}

func (r *recordingObserver) ObserveHTTP(method, route string, status int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs = append(r.obs, observation{method, route, status, d})
}

func (r *recordingObserver) take() []observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.obs
	r.obs = nil
	return out
}

func TestMetricsObserveRoutePatterns(t *testing.T) {
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "HTTP_MAX_BODY_BYTES": "1024", "LOG_FILE": ""})
	require.NoError(t, err)
	db := storetest.Open(t, store.SQLite)
	rec := &recordingObserver{}
	srv := httpapi.New(httpapi.Params{
		Config: cfg, DB: db, Metrics: rec,
		Bookings: booking.NewService(booking.ServiceParams{Store: db}),
		Accounts: booking.NewAccounts(booking.AccountsParams{Store: db}),
		Mount: func(mux *http.ServeMux, s *httpapi.Server) {
			mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
			mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(20 * time.Millisecond)
				w.WriteHeader(http.StatusNoContent)
			})
		},
	})

	for _, c := range []struct {
		name, method, path, body string
		want                     observation
	}{
		{"pattern with a wildcard", "GET", "/api/tours/12345", "", observation{"GET", "GET /api/tours/{id}", 404, 0}},
		{"another id is the same route", "GET", "/api/tours/777", "", observation{"GET", "GET /api/tours/{id}", 404, 0}},
		{"plain route", "GET", "/healthz", "", observation{"GET", "GET /healthz", 200, 0}},
		{"handler that answers 401", "POST", "/api/bookings", "{}", observation{"POST", "POST /api/bookings", 401, 0}},
		{"unknown path", "GET", "/wp-login.php", "", observation{"GET", httpapi.UnmatchedRoute, 404, 0}},
		{"known path, wrong method", "DELETE", "/api/tours", "", observation{"DELETE", httpapi.UnmatchedRoute, 405, 0}},
		{"made-up method", "BREW", "/api/tours", "", observation{"OTHER", httpapi.UnmatchedRoute, 405, 0}},
		{"refused before routing", "POST", "/api/bookings", strings.Repeat("x", 2000), observation{"POST", "POST /api/bookings", 413, 0}},
		{"panic", "GET", "/boom", "", observation{"GET", "GET /boom", 500, 0}},
		{"duration", "GET", "/slow", "", observation{"GET", "GET /slow", 204, 20 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
			require.Equal(t, c.want.status, w.Code, w.Body.String())
			got := rec.take()
			require.Len(t, got, 1)
			require.Equal(t, c.want.method, got[0].method)
			require.Equal(t, c.want.route, got[0].route)
			require.Equal(t, c.want.status, got[0].status)
			require.GreaterOrEqual(t, got[0].d, c.want.d)
			require.Positive(t, got[0].d)
		})
	}
}
