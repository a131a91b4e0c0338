// Package httpapi is Tripin's JSON API over net/http: the server and its
// middleware (request IDs, access log, body limit, panic recovery,
// authentication), one table mapping application error codes to HTTP
// statuses, and one file of handlers per resource. Every route is listed
// in routes.go.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/secheaders"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/throttle"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// Params are the dependencies of the API server.
type Params struct {
	Config   *config.Config
	DB       *store.DB
	Logger   *slog.Logger
	Bookings *booking.Service
	Accounts *booking.Accounts
	// Mount, when set, adds the routes of other features (payments, the
	// dashboard, metrics, the simulator) to the same mux, after the API's
	// own routes. It may wrap its handlers with the server's RequireUser
	// and RequireAdmin, and answer with WriteJSON and the server's
	// WriteError so that every response has the same shape.
	Mount func(mux *http.ServeMux, s *Server)
	// Metrics, when set, hears of every request once it is answered (the
	// Prometheus exporter); nil records nothing.
	Metrics HTTPObserver
	// Limiter counts logins and registrations against the limits of
	// Config (LOGIN_RATE_LIMIT, LOGIN_IP_RATE_LIMIT, REGISTER_RATE_LIMIT),
	// shared by every server: the queue connection's limiter. Nil means
	// the database's (queue_rate_limits).
	Limiter throttle.Limiter
	// Parts, when set, reports the process's background parts (the
	// embedded worker and scheduler) for /readyz, which answers 503 while
	// one of them is down.
	Parts func() []PartStatus
}

// Server is the API's http.Handler.
type Server struct {
	cfg      *config.Config
	db       *store.DB
	log      *slog.Logger
	bookings *booking.Service
	accounts *booking.Accounts
	mux      *http.ServeMux
	handler  http.Handler
	metrics  HTTPObserver
	throttle *throttle.Throttle
	proxies  *TrustedProxies
	parts    func() []PartStatus
}

// New builds the API server with its routes and middleware.
func New(p Params) *Server {
	s := &Server{
		cfg: p.Config, db: p.DB, log: p.Logger, bookings: p.Bookings, accounts: p.Accounts,
		mux: http.NewServeMux(), metrics: p.Metrics, parts: p.Parts,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if p.Config != nil {
		s.proxies = NewTrustedProxies(p.Config.TrustedProxies)
		lim := p.Limiter
		if lim == nil && p.DB != nil {
			lim = dbdriver.NewAdmin(p.DB.DB)
		}
		s.throttle = throttle.New(lim, ThrottleLimits(p.Config))
	}
	s.routes()
	if p.Mount != nil {
		p.Mount(s.mux, s)
	}
	var h http.Handler = http.HandlerFunc(s.dispatch)
	h = s.limitBody(h)
	h = s.accessLog(h)
	h = s.recoverPanics(h)
	h = s.observe(h)
	h = s.requestID(h)
	// Every response, errors and redirects included, carries the security
	// headers; HTML pages replace the policy with their own.
	h = secheaders.Middleware(s.requestIsHTTPS, h)
	// The client's address and scheme are worked out first, from
	// TRUSTED_PROXIES, for everything inside, the headers' HSTS included.
	h = s.resolveClient(h)
	s.handler = h
	return s
}

// ThrottleLimits are the login and registration limits of cfg.
func ThrottleLimits(cfg *config.Config) throttle.Limits {
	return throttle.Limits{
		LoginPerAccount: cfg.LoginRateLimit, LoginPerAddress: cfg.LoginIPRateLimit, RegisterPerAddress: cfg.RegisterRateLimit,
	}
}

// requestIsHTTPS reports whether the client reached the server over HTTPS,
// which decides HSTS: the connection is TLS, or a proxy listed in
// TRUSTED_PROXIES says X-Forwarded-Proto: https (resolveClient, which wraps
// every handler, has worked it out).
func (s *Server) requestIsHTTPS(r *http.Request) bool {
	return RequestIsHTTPS(r)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// dispatch routes a request. Requests that match no route (404) or match
// one only with another method (405) get the JSON error shape instead of
// the mux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if slot, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok {
		slot.pattern, slot.set = pattern, true
	}
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		writeErrorBody(w, http.StatusMethodNotAllowed, "method_not_allowed", "The "+r.Method+" method is not supported for this route.", nil)
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		http.Redirect(w, r, rec.header.Get("Location"), rec.status)
	default:
		writeErrorBody(w, http.StatusNotFound, "not_found", "The requested URL was not found.", nil)
	}
}

// statusRecorder captures the status and headers of the mux's own 404,
// 405 and redirect answers.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int)        { r.status = code }

// NewHTTPServer returns an http.Server for h with timeouts that protect
// against slow clients: headers within 5 s, the body within 30 s, the
// answer within 60 s.
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}

// Serve serves srv on ln until ctx is cancelled, then shuts down
// gracefully: the listener closes at once and requests in flight get up to
// grace to finish. It returns nil after a clean shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("httpapi: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpapi: serve: %w", err)
	}
	return nil
}
