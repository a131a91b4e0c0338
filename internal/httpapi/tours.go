package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

// pathID reads the {id} path segment; anything but a positive integer is
// reported as notFound.
func pathID(r *http.Request, notFound string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Errorf(apperr.ENOTFOUND, "%s", notFound)
	}
	return id, nil
}

// parsePage reads ?page= and ?per_page=.
func parsePage(q url.Values, fields map[string]string) booking.Page {
	p := booking.DefaultPage()
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			fields["page"] = "The page must be a positive integer."
		} else {
			p.Number = n
		}
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fields["per_page"] = "The per_page must be an integer between 1 and 100."
		} else {
			p.PerPage = n
		}
	}
	return p
}

func dateParam(q url.Values, name string, fields map[string]string) string {
	v := q.Get(name)
	if v == "" {
		return ""
	}
	if _, err := time.Parse(booking.DateLayout, v); err != nil || len(v) != len(booking.DateLayout) {
		fields[name] = "The " + name + " must be a date in YYYY-MM-DD format."
	}
	return v
}

// tourFilter reads the listing's query: destination (part of the name,
// any case), date (exact departure day), date_from and date_to (a range),
// page and per_page.
func tourFilter(r *http.Request) (booking.TourFilter, error) {
	q := r.URL.Query()
	fields := map[string]string{}
	f := booking.TourFilter{Destination: q.Get("destination"), Page: parsePage(q, fields)}
	if len(f.Destination) > 255 {
		fields["destination"] = "The destination may not be longer than 255 characters."
	}
	f.From = dateParam(q, "date_from", fields)
	f.To = dateParam(q, "date_to", fields)
	if d := dateParam(q, "date", fields); d != "" {
		f.From, f.To = d, d
	}
	if len(fields) > 0 {
		return f, apperr.Invalid(fields)
	}
	return f, nil
}

func (s *Server) writeTourPage(w http.ResponseWriter, r *http.Request, f booking.TourFilter) {
	tours, total, err := s.bookings.ListTours(r.Context(), f)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, pageBody(r, tours, len(tours), f.Page.Number, f.Page.PerPage, total))
}

// handleTourList lists tours that can still be booked, by departure date,
// unless a date filter says otherwise.
func (s *Server) handleTourList(w http.ResponseWriter, r *http.Request) {
	f, err := tourFilter(r)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	s.writeTourPage(w, r, f)
}

func (s *Server) handleTourShow(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "Tour not found.")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	t, err := s.bookings.GetTour(r.Context(), id)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	WriteData(w, http.StatusOK, t)
}
