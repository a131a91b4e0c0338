package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	userKey
	tokenKey
)

// RequestID returns the request's ID (the X-Request-ID header).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// UserFrom returns the authenticated user of a request that went through
// RequireUser or RequireAdmin.
func UserFrom(ctx context.Context) (*booking.User, bool) {
	u, ok := ctx.Value(userKey).(*booking.User)
	return u, ok
}

// requestID takes the client's X-Request-ID when it is short and plain, or
// makes one, and echoes it in the response.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// responseRecorder remembers the status and size of a response for the
// access log.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *responseRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLog writes one structured line per request.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		var user int64
		r = r.WithContext(context.WithValue(r.Context(), userIDSlotKey{}, &user))
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", ClientIP(r)),
		}
		if user != 0 {
			attrs = append(attrs, slog.Int64("user_id", user))
		}
		s.log.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// userIDSlotKey holds a pointer the access log reads after the handler:
// RequireUser writes the authenticated user's ID into it.
type userIDSlotKey struct{}

// HTTPObserver hears of each request once it is answered: its method, its
// route, its status and how long it took. The Prometheus exporter
// implements it; the interface keeps httpapi free of the exporter's
// dependencies.
type HTTPObserver interface {
	ObserveHTTP(method, route string, status int, d time.Duration)
}

// UnmatchedRoute is the route reported for a request that matched no
// pattern. Reporting the raw path instead would let anyone probing random
// URLs create a new metric series per URL.
const UnmatchedRoute = "unmatched"

// routeSlot is where dispatch leaves the pattern it matched, for observe
// to read after the handler. Request.Pattern cannot serve: the mux sets
// it on the *Request it is handed, and the middleware in between pass on
// copies (WithContext), so the request observe holds never has it.
type routeSlot struct {
	pattern string
	set     bool
}

type routeSlotKey struct{}

// observe reports every request to the server's HTTPObserver, with the
// ServeMux pattern that routed it as its route ("POST /api/bookings"),
// so that /api/bookings/1 and /api/bookings/2 are one series. It sits
// outside recoverPanics so that a panic is seen as the 500 it becomes.
func (s *Server) observe(next http.Handler) http.Handler {
	if s.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		slot := &routeSlot{}
		r = r.WithContext(context.WithValue(r.Context(), routeSlotKey{}, slot))
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if !slot.set {
			// Refused before routing (a body over the limit): the route is
			// still worth knowing.
			_, slot.pattern = s.mux.Handler(r)
		}
		route := slot.pattern
		// For CONNECT the mux may report the raw path it would redirect
		// to instead of a pattern; no route here serves CONNECT anyway.
		if route == "" || r.Method == http.MethodConnect {
			route = UnmatchedRoute
		}
		s.metrics.ObserveHTTP(methodLabel(r.Method), route, status, time.Since(start))
	})
}

// methodLabel keeps the standard methods and folds every other one into
// "OTHER": the method is the client's to choose, and each distinct one
// would be a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// limitBody refuses bodies over HTTP_MAX_BODY_BYTES: at once with 413 when
// Content-Length says so, and otherwise when reading passes the limit.
func (s *Server) limitBody(next http.Handler) http.Handler {
	limit := s.cfg.HTTPMaxBodySize
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			s.WriteError(w, r, apperr.Errorf(apperr.ETOOLARGE, "The request body is larger than %d bytes.", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a logged 500 with the stack, so one bad
// request never takes the process down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			writeErrorBody(w, http.StatusInternalServerError, apperr.EINTERNAL, "An internal error occurred.", nil)
		}()
		next.ServeHTTP(w, r)
	})
}

// RequireUser lets a request through only with a valid bearer token; the
// handler finds the user with UserFrom.
func (s *Server) RequireUser(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearerToken(r)
		if !ok {
			s.WriteError(w, r, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated."))
			return
		}
		u, err := s.accounts.Authenticate(r.Context(), tok)
		if err != nil {
			s.WriteError(w, r, err)
			return
		}
		if slot, ok := r.Context().Value(userIDSlotKey{}).(*int64); ok {
			*slot = u.ID
		}
		ctx := context.WithValue(r.Context(), userKey, u)
		ctx = context.WithValue(ctx, tokenKey, tok)
		h(w, r.WithContext(ctx))
	})
}

// RequireAdmin is RequireUser for admins only; other users get 403.
func (s *Server) RequireAdmin(h http.HandlerFunc) http.Handler {
	return s.RequireUser(func(w http.ResponseWriter, r *http.Request) {
		if u, _ := UserFrom(r.Context()); !u.IsAdmin {
			s.WriteError(w, r, apperr.Errorf(apperr.EFORBIDDEN, "This action is for administrators only."))
			return
		}
		h(w, r)
	})
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}

// resolveClient works out, once and first, who the client is (see
// TrustedProxies.Resolve), for everything after it: rate limits, the
// access log, the Secure flag of cookies.
func (s *Server) resolveClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, WithClient(r, s.proxies))
	})
}
