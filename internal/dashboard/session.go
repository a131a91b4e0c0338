package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/throttle"
)

// The cookies the dashboard sets. Both are scoped to Prefix, HttpOnly and
// SameSite=Strict, so no other page of the site and no other site can
// send or read them.
const (
	// sessionCookie holds the session: an API token issued by Accounts
	// under the name tokenName, revoked on logout.
	sessionCookie = "tripin_admin"
	// loginCookie holds the random value the login form must echo (a
	// double-submit token): there is no session yet to bind a token to.
	loginCookie = "tripin_admin_login"
	tokenName   = "dashboard"
	// csrfField is the hidden form field carrying the CSRF token.
	csrfField = "_csrf"
	// csrfLabel is what the session's CSRF token is the HMAC of. Changing
	// it invalidates every open form, which is harmless.
	csrfLabel = "tripin dashboard csrf v1"
	// sessionTTL is how long the session cookie lives in the browser.
	sessionTTL = 12 * time.Hour
)

// session is the logged-in administrator of a request.
type session struct {
	user  *booking.User
	token string
	csrf  string
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) (*session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*session)
	return s, ok
}

// csrfToken is the session's CSRF token: an HMAC of a fixed label keyed by
// the session token. It needs no storage, changes with every session and
// cannot be computed without the token, which scripts cannot read.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte(csrfLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// validCSRF compares a submitted token with the expected one in constant
// time.
func validCSRF(got, want string) bool {
	return got != "" && want != "" && hmac.Equal([]byte(got), []byte(want))
}

// sameOrigin refuses requests that a browser marks as coming from another
// site: an Origin header naming another host, or Sec-Fetch-Site
// cross-site. Requests without either header (old browsers, curl) rely on
// the CSRF token alone.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null", sent by sandboxed and privacy-sensitive contexts
	}
	return strings.EqualFold(u.Host, r.Host)
}

// authenticate returns the session of the request's cookie, or nil when
// there is none or its token is no longer valid.
func (d *Dashboard) authenticate(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	u, err := d.p.Accounts.Authenticate(r.Context(), c.Value)
	if err != nil {
		if apperr.Code(err) == apperr.EUNAUTHORIZED {
			return nil, nil
		}
		return nil, err
	}
	return &session{user: u, token: c.Value, csrf: csrfToken(c.Value)}, nil
}

// page wraps a handler that needs a logged-in administrator: anyone else
// is sent to the login form, and a logged-in customer is refused.
func (d *Dashboard) page(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return d.authed(true, h)
}

// authed wraps a handler that needs a session; with adminOnly, the
// session's user must be an administrator too.
func (d *Dashboard) authed(adminOnly bool, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := d.authenticate(r)
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		if s == nil {
			next := ""
			if r.Method == http.MethodGet && r.URL.Path != Prefix && r.URL.Path != Prefix+"/" {
				next = "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, Prefix+"/login"+next, http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		if adminOnly && !s.user.IsAdmin {
			d.fail(w, r, http.StatusForbidden, "Administrators only",
				"You are logged in as "+s.user.Email+", which is not an administrator account. Log out and log in as an administrator.")
			return
		}
		h(w, r, s)
	}
}

// action wraps a handler that changes something: on top of page's checks,
// the request must come from this site and carry the session's CSRF
// token; otherwise it is refused with 403 before the handler runs.
func (d *Dashboard) action(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return d.page(d.checkCSRF(h))
}

// checkCSRF refuses, with 403 and before h runs, a request that does not
// come from this site or lacks the session's CSRF token.
func (d *Dashboard) checkCSRF(h func(http.ResponseWriter, *http.Request, *session)) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !sameOrigin(r) {
			d.refuseCSRF(w, r, "The request came from another site.")
			return
		}
		if err := r.ParseForm(); err != nil {
			d.fail(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		if !validCSRF(r.PostForm.Get(csrfField), s.csrf) {
			d.refuseCSRF(w, r, "The form's security token is missing or wrong.")
			return
		}
		h(w, r, s)
	}
}

func (d *Dashboard) refuseCSRF(w http.ResponseWriter, r *http.Request, why string) {
	d.log.Warn("dashboard: refused a request without a valid CSRF token",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("reason", why))
	d.fail(w, r, http.StatusForbidden, "Request refused",
		why+" Nothing was changed. Reload the page and try again.")
}

// secure reports whether cookies must be Secure: the client came over
// HTTPS (TLS, or a trusted proxy's X-Forwarded-Proto; see
// httpapi.RequestIsHTTPS) or the app is served over https.
func (d *Dashboard) secure(r *http.Request) bool {
	return httpapi.RequestIsHTTPS(r) || (d.p.Config != nil && strings.HasPrefix(strings.ToLower(d.p.Config.AppURL), "https://"))
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secure(r),
	})
}

// loginPage is the login form's data.
type loginPage struct {
	Email string
	Next  string
	Error string
	Token string
}

// handleLoginForm shows the login form with a fresh double-submit token.
// An administrator who is already logged in goes straight in.
func (d *Dashboard) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if s, err := d.authenticate(r); err == nil && s != nil && s.user.IsAdmin {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d.showLogin(w, r, http.StatusOK, &loginPage{Next: next})
}

func (d *Dashboard) showLogin(w http.ResponseWriter, r *http.Request, status int, lp *loginPage) {
	lp.Token = randomToken()
	d.setCookie(w, r, loginCookie, lp.Token, 3600)
	d.render(w, r, status, "login", &view{Title: "Log in", Page: lp})
}

// handleLogin checks the form's token, then the credentials, and lets
// only administrators in. The session is a token of its own (named
// "dashboard"); the one Login issued is revoked at once, so a refused or
// finished login leaves no usable token behind.
func (d *Dashboard) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		d.refuseCSRF(w, r, "The request came from another site.")
		return
	}
	if err := r.ParseForm(); err != nil {
		d.fail(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !validCSRF(r.PostForm.Get(csrfField), c.Value) {
		d.refuseCSRF(w, r, "The login form's security token is missing or wrong (are cookies enabled?).")
		return
	}
	email, password := booking.NormalizeEmail(r.PostForm.Get("email")), r.PostForm.Get("password")
	lp := &loginPage{Email: email, Next: safeNext(r.PostForm.Get("next"))}
	if email == "" || password == "" {
		lp.Error = "Enter your email and password."
		d.showLogin(w, r, http.StatusUnprocessableEntity, lp)
		return
	}
	if len(email) > booking.MaxEmailLen {
		lp.Email, lp.Error = "", "The email may not be longer than 255 characters."
		d.showLogin(w, r, http.StatusUnprocessableEntity, lp)
		return
	}
	// Counted before the password is checked, with the API's limits and
	// counters: the form is no second door for guessing.
	if err := d.throttle.Login(r.Context(), email, httpapi.ClientIP(r)); err != nil {
		var ra *throttle.RetryAfterError
		if !errors.As(err, &ra) {
			d.internalError(w, r, err)
			return
		}
		w.Header().Set("Retry-After", ra.Header())
		lp.Error = fmt.Sprintf("Too many login attempts. Wait %d seconds and try again.", ra.Seconds())
		d.showLogin(w, r, http.StatusTooManyRequests, lp)
		return
	}
	u, loginToken, err := d.p.Accounts.Login(r.Context(), email, password)
	if err != nil {
		if apperr.Code(err) != apperr.EUNAUTHORIZED {
			d.internalError(w, r, err)
			return
		}
		lp.Error = "These credentials do not match our records."
		d.showLogin(w, r, http.StatusUnauthorized, lp)
		return
	}
	// The token Login issued is not the session: revoke it whatever
	// happens next.
	if err := d.p.Accounts.Logout(r.Context(), loginToken); err != nil {
		d.internalError(w, r, err)
		return
	}
	if !u.IsAdmin {
		d.log.Warn("dashboard: refused a login by a non-administrator", slog.Int64("user_id", u.ID))
		lp.Error = "This account is not an administrator. The dashboard is for administrators only."
		d.showLogin(w, r, http.StatusForbidden, lp)
		return
	}
	// The cookie's Max-Age only asks the browser to forget the session;
	// the expiry on the token itself ends it on the server too (after
	// sessionTTL, or the API token lifetime if that is shorter).
	tok, err := d.p.Accounts.IssueTokenTTL(r.Context(), u.ID, tokenName, sessionTTL)
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	d.log.Info("dashboard: administrator logged in", slog.Int64("user_id", u.ID))
	d.setCookie(w, r, loginCookie, "", -1)
	d.setCookie(w, r, sessionCookie, tok, int(sessionTTL/time.Second))
	http.Redirect(w, r, lp.Next, http.StatusSeeOther)
}

// handleLogout revokes the session's token and clears its cookie.
func (d *Dashboard) handleLogout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := d.p.Accounts.Logout(r.Context(), s.token); err != nil {
		d.internalError(w, r, err)
		return
	}
	d.setCookie(w, r, sessionCookie, "", -1)
	redirect(w, r, Prefix+"/login", "logged-out")
}

// safeNext keeps a post-login destination only when it is a dashboard
// path on this site, so the login form cannot be used to redirect
// elsewhere.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, Prefix+"/login") {
		return Prefix
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return Prefix
	}
	if u.Path != Prefix && !strings.HasPrefix(u.Path, Prefix+"/") {
		return Prefix // e.g. /administrator
	}
	return next
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("dashboard: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
