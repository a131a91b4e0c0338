package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// handleHealthz answers while the process is up.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	WriteData(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 only when the database answers and its schema
// is current, so a load balancer keeps traffic away until then.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		s.log.WarnContext(ctx, "readyz: database unreachable", "error", err.Error())
		s.WriteError(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "The database is unreachable."))
		return
	}
	pending, err := s.db.Pending(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "readyz: migrations", "error", err.Error())
		s.WriteError(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "The database schema could not be checked."))
		return
	}
	if len(pending) > 0 {
		s.WriteError(w, r, apperr.Errorf(apperr.EUNAVAILABLE, "%s", fmt.Sprintf("%d migration(s) pending; run 'tripin migrate'.", len(pending))))
		return
	}
	WriteData(w, http.StatusOK, map[string]string{"status": "ready", "database": string(s.db.Dialect)})
}
