package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// The states of a part of the process, as /readyz reports them. Only
// PartDown makes the process not ready: a part restarting after a clean
// stop (the worker on `queue restart`) or briefly after a failure is still
// expected back.
const (
	PartUp         = "up"
	PartStarting   = "starting"
	PartRestarting = "restarting"
	PartDown       = "down"
	PartStopped    = "stopped"
	PartDisabled   = "disabled"
)

// PartStatus is one part of the process — the database it needs, or a
// background part such as the embedded queue worker or scheduler — as
// /readyz lists it.
type PartStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// StartedAt is when the part's current (or last) run started.
	StartedAt *time.Time `json:"started_at,omitempty"`
	// LastHeartbeat is the part's own last sign of life, when it gives one.
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty"`
	// Restarts counts the runs started after the first.
	Restarts int `json:"restarts"`
	// DownSince is when the failures that made the part down began.
	DownSince *time.Time `json:"down_since,omitempty"`
	// Error says why the part is failing (while restarting or down).
	Error string `json:"error,omitempty"`
	// Detail is extra information (the database's dialect).
	Detail string `json:"detail,omitempty"`
}

// handleHealthz answers while the process is up.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	WriteData(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyzBody is the data of a ready /readyz answer.
type readyzBody struct {
	Status string `json:"status"`
	// Database is the dialect, as /readyz has always answered.
	Database string       `json:"database"`
	Parts    []PartStatus `json:"parts"`
}

// handleReadyz answers 200 only when the database answers, its schema is
// current and no background part of the process (Params.Parts) is down, so
// a load balancer or an orchestrator keeps traffic away, or replaces the
// process, until then. Every part is listed, with its state, start time,
// heartbeat and restart count; a 503 names the failing parts in its
// message and, one line each, in its fields.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	parts := []PartStatus{s.databaseStatus(ctx)}
	if s.parts != nil {
		parts = append(parts, s.parts()...)
	}
	fields := map[string]string{}
	var reasons []string
	for _, p := range parts {
		if p.State != PartDown {
			continue
		}
		why := strings.TrimSuffix(p.Error, ".")
		if why == "" {
			why = "no reason given"
		}
		reasons = append(reasons, p.Name+" is down ("+why+")")
		fields[p.Name] = p.Error
	}
	if len(reasons) > 0 {
		s.WriteError(w, r, &apperr.Error{
			Code:    apperr.EUNAVAILABLE,
			Message: "Not ready: " + strings.Join(reasons, "; ") + ".",
			Fields:  fields,
		})
		return
	}
	WriteData(w, http.StatusOK, readyzBody{Status: "ready", Database: string(s.db.Dialect), Parts: parts})
}

// databaseStatus checks that the database answers and that its schema is
// current. The errors are logged, not shown: they may name hosts.
func (s *Server) databaseStatus(ctx context.Context) PartStatus {
	st := PartStatus{Name: "database", State: PartUp, Detail: string(s.db.Dialect)}
	down := func(msg string) PartStatus {
		st.State, st.Error = PartDown, msg
		return st
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.log.WarnContext(ctx, "readyz: database unreachable", "error", err.Error())
		return down("The database is unreachable.")
	}
	pending, err := s.db.Pending(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "readyz: migrations", "error", err.Error())
		return down("The database schema could not be checked.")
	}
	if len(pending) > 0 {
		return down(fmt.Sprintf("%d migration(s) pending; run 'tripin migrate'.", len(pending)))
	}
	return st
}
