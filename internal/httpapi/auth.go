package httpapi

import (
	"errors"
	"net/http"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/throttle"
)

type registerRequest struct {
	Name                 string `json:"name"`
	Email                string `json:"email"`
	Password             string `json:"password"`
	PasswordConfirmation string `json:"password_confirmation"`
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type passwordRequest struct {
	CurrentPassword      string `json:"current_password"`
	Password             string `json:"password"`
	PasswordConfirmation string `json:"password_confirmation"`
}

type tokenBody struct {
	Token string        `json:"token"`
	Data  *booking.User `json:"data"`
}

// writeThrottled answers a request refused by a limit: 429 with
// Retry-After. Any other error is written as it is.
func (s *Server) writeThrottled(w http.ResponseWriter, r *http.Request, err error) {
	var ra *throttle.RetryAfterError
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", ra.Header())
	}
	s.WriteError(w, r, err)
}

// handleRegister validates the new account first (cheap, and a mistyped
// form costs the address nothing), then counts the registration against
// the address's hourly limit, and only then hashes the password.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	if err := confirmPassword(req.Password, req.PasswordConfirmation); err != nil {
		s.WriteError(w, r, err)
		return
	}
	nu := booking.NewUser{Name: req.Name, Email: req.Email, Password: req.Password}
	if err := booking.ValidateNewUser(nu); err != nil {
		s.WriteError(w, r, err)
		return
	}
	if err := s.throttle.Register(r.Context(), ClientIP(r)); err != nil {
		s.writeThrottled(w, r, err)
		return
	}
	u, tok, err := s.accounts.Register(r.Context(), nu)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, tokenBody{Token: tok, Data: u})
}

// handleLogin refuses an over-long email before any lookup, then counts
// the attempt against the client address's and the account's limits, and
// only then lets bcrypt run: parallel guesses cannot get past the count.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	fields := map[string]string{}
	email := booking.NormalizeEmail(req.Email)
	switch {
	case email == "":
		fields["email"] = "The email field is required."
	case len(email) > booking.MaxEmailLen:
		fields["email"] = "The email may not be longer than 255 characters."
	}
	if req.Password == "" {
		fields["password"] = "The password field is required."
	}
	if len(fields) > 0 {
		s.WriteError(w, r, apperr.Invalid(fields))
		return
	}
	if err := s.throttle.Login(r.Context(), email, ClientIP(r)); err != nil {
		s.writeThrottled(w, r, err)
		return
	}
	u, tok, err := s.accounts.Login(r.Context(), email, req.Password)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, tokenBody{Token: tok, Data: u})
}

// handleLogout revokes the token the request was made with.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok, _ := r.Context().Value(tokenKey).(string)
	if err := s.accounts.Logout(r.Context(), tok); err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, map[string]string{"message": "Logged out."})
}

// handleLogoutAll revokes every token of the user: every device, and the
// dashboard session of an administrator.
func (s *Server) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	n, err := s.accounts.LogoutAll(r.Context(), u.ID)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, map[string]any{"message": "Logged out of every session.", "revoked": n})
}

// handlePasswordChange checks the current password (counted against the
// account's login limit first, as a login would be, since it is one more
// way to test a password), sets the new one, revokes every token of the
// user, the one in use included, and answers with a fresh token for this
// client.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	if err := confirmPassword(req.Password, req.PasswordConfirmation); err != nil {
		s.WriteError(w, r, err)
		return
	}
	u, _ := UserFrom(r.Context())
	if err := s.throttle.Login(r.Context(), u.Email, ClientIP(r)); err != nil {
		s.writeThrottled(w, r, err)
		return
	}
	if err := s.accounts.ChangePassword(r.Context(), u, req.CurrentPassword, req.Password); err != nil {
		s.WriteError(w, r, err)
		return
	}
	tok, err := s.accounts.IssueToken(r.Context(), u.ID, "password-change")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, tokenBody{Token: tok, Data: u})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	WriteData(w, http.StatusOK, u)
}

// confirmPassword checks an optional password_confirmation against the
// password, as Laravel's "confirmed" rule does.
func confirmPassword(password, confirmation string) error {
	if confirmation != "" && confirmation != password {
		return apperr.Invalid(map[string]string{"password": "The password confirmation does not match."})
	}
	return nil
}
