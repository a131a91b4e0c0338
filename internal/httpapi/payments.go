package httpapi

import (
	"net/http"

	"github.com/tripintravel/tripin/internal/payment"
)

// MountPayments returns a Params.Mount function that adds the payment
// routes (see payment.Handlers) to the API: the Midtrans callback, the
// payment simulator, POST /api/bookings/{id}/pay and the e-ticket page.
// It gives the handlers the server's authentication, error writer and
// client address, so their answers have the API's shape. h.Service and h.Config must be set
// before the server takes requests.
func MountPayments(h *payment.Handlers) func(mux *http.ServeMux, s *Server) {
	return func(mux *http.ServeMux, s *Server) {
		h.WriteError = s.WriteError
		if h.Logger == nil {
			h.Logger = s.log
		}
		h.User = func(r *http.Request) (int64, bool, bool) {
			u, ok := UserFrom(r.Context())
			if !ok {
				return 0, false, false
			}
			return u.ID, u.IsAdmin, true
		}
		// Rejected notifications are limited per client address, as the
		// server sees it behind its proxies.
		h.ClientIP = ClientIP
		h.Mount(mux, s.RequireUser)
	}
}
