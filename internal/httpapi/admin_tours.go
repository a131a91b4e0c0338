package httpapi

import (
	"net/http"

	"github.com/tripintravel/tripin/internal/booking"
)

// tourRequest is the body of an admin create or update. Pointers tell an
// omitted field from a zero one; quota is never set directly.
type tourRequest struct {
	Title         *string `json:"title"`
	Destination   *string `json:"destination"`
	Description   *string `json:"description"`
	DepartureDate *string `json:"departure_date"`
	Price         *int64  `json:"price"`
	Capacity      *int    `json:"capacity"`
}

func (t tourRequest) changes() booking.TourChanges {
	return booking.TourChanges{
		Title: t.Title, Destination: t.Destination, Description: t.Description,
		DepartureDate: t.DepartureDate, Price: t.Price, Capacity: t.Capacity,
	}
}

// handleAdminTourList lists every tour, departed ones included, unless a
// date filter narrows it.
func (s *Server) handleAdminTourList(w http.ResponseWriter, r *http.Request) {
	f, err := tourFilter(r)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if f.From == "" && f.To == "" {
		f.From = "0001-01-01"
	}
	s.writeTourPage(w, r, f)
}

func (s *Server) handleAdminTourCreate(w http.ResponseWriter, r *http.Request) {
	var req tourRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	t, err := s.bookings.CreateTour(r.Context(), req.changes())
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusCreated, t)
}

// handleAdminTourUpdate changes the fields present in the body (PUT and
// PATCH alike).
func (s *Server) handleAdminTourUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "Tour not found.")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	var req tourRequest
	if err := DecodeJSON(r, &req); err != nil {
		s.WriteError(w, r, err)
		return
	}
	t, err := s.bookings.UpdateTour(r.Context(), id, req.changes())
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, t)
}

// handleAdminTourDelete deletes a tour; 409 while it has bookings.
func (s *Server) handleAdminTourDelete(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "Tour not found.")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if err := s.bookings.DeleteTour(r.Context(), id); err != nil {
		s.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
