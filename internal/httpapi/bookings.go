package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

// bookingRequest is the body of POST /api/bookings.
type bookingRequest struct {
	TourID   int64 `json:"tour_id"`
	Quantity int   `json:"quantity"`
}

// decodeBookingRequest decodes a booking body; it fails only with
// EMALFORMED. The fields are checked by booking.ValidateBookParams, which
// Book runs first.
func decodeBookingRequest(body []byte) (bookingRequest, error) {
	var req bookingRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return bookingRequest{}, err
	}
	return req, nil
}

// hash identifies the request's meaning, not its bytes, so a client may
// re-encode the same body differently on a retry.
func (b bookingRequest) hash() string {
	sum := sha256.Sum256([]byte("tour_id=" + strconv.FormatInt(b.TourID, 10) + "&quantity=" + strconv.Itoa(b.Quantity)))
	return hex.EncodeToString(sum[:])
}

// handleBookingCreate books seats: 201 with the pending booking, 409
// sold_out, 404 for an unknown or departed tour, 422 for a bad quantity.
// With an Idempotency-Key header, a repeat by the same user returns the
// first answer (with Idempotent-Replayed: true) and books nothing; the same
// key with a different body is refused with 422. Only successful bookings
// are remembered, so a retry after 409 tries again.
func (s *Server) handleBookingCreate(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.WriteError(w, r, readError(err))
		return
	}
	req, err := decodeBookingRequest(body)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	// Book validates the fields and the Idempotency-Key header before it
	// touches anything.
	res, err := s.bookings.Book(r.Context(), booking.BookParams{
		UserID: u.ID, TourID: req.TourID, Quantity: req.Quantity,
		IdempotencyKey: r.Header.Get("Idempotency-Key"), RequestHash: req.hash(),
	})
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/bookings/"+strconv.FormatInt(res.Booking.ID, 10))
	WriteData(w, http.StatusCreated, res.Booking)
}

// handleBookingList lists the caller's own bookings, newest first.
func (s *Server) handleBookingList(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	fields := map[string]string{}
	p := parsePage(r.URL.Query(), fields)
	if len(fields) > 0 {
		s.WriteError(w, r, apperr.Invalid(fields))
		return
	}
	list, total, err := s.bookings.List(r.Context(), u.ID, p)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, pageBody(r, list, len(list), p.Number, p.PerPage, total))
}

// handleBookingShow shows a booking to its owner or an admin; anyone else
// gets 404.
func (s *Server) handleBookingShow(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	id, err := pathID(r, "Booking not found.")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	b, err := s.bookings.Get(r.Context(), u, id)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, b)
}

// handleBookingCancel cancels a pending booking and gives its seats back;
// 409 for a booking in any other state.
func (s *Server) handleBookingCancel(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	id, err := pathID(r, "Booking not found.")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	b, err := s.bookings.Cancel(r.Context(), u, id)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, b)
}
