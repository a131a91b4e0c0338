package httpapi

import (
	"net/http"
	"strconv"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
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

type tokenBody struct {
	Token string        `json:"token"`
	Data  *booking.User `json:"data"`
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	if req.PasswordConfirmation != "" && req.PasswordConfirmation != req.Password {
		s.WriteError(w, r, apperr.Invalid(map[string]string{"password": "The password confirmation does not match."}))
		return
	}
	u, tok, err := s.accounts.Register(r.Context(), booking.NewUser{Name: req.Name, Email: req.Email, Password: req.Password})
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, tokenBody{Token: tok, Data: u})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	fields := map[string]string{}
	if req.Email == "" {
		fields["email"] = "The email field is required."
	}
	if req.Password == "" {
		fields["password"] = "The password field is required."
	}
	if len(fields) > 0 {
		s.WriteError(w, r, apperr.Invalid(fields))
		return
	}
	key := booking.NormalizeEmail(req.Email) + "|" + ClientIP(r)
	if ok, wait := s.logins.allow(key); !ok {
		secs := int(wait.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.WriteError(w, r, apperr.Errorf(apperr.ERATELIMITED, "Too many login attempts. Please try again in %d seconds.", secs))
		return
	}
	u, tok, err := s.accounts.Login(r.Context(), req.Email, req.Password)
	if err != nil {
		if apperr.Code(err) == apperr.EUNAUTHORIZED {
			s.logins.fail(key)
		}
		s.WriteError(w, r, err)
		return
	}
	s.logins.reset(key)
	WriteJSON(w, http.StatusOK, tokenBody{Token: tok, Data: u})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok, _ := r.Context().Value(tokenKey).(string)
	if err := s.accounts.Logout(r.Context(), tok); err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, map[string]string{"message": "Logged out."})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	WriteData(w, http.StatusOK, u)
}
