package httpapi

import (
	"net/http"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/httpapi/apidocs"
	"github.com/tripintravel/tripin/internal/secheaders"
)

// handleOpenAPI answers the OpenAPI document (internal/httpapi/apidocs).
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(apidocs.Document())
}

// handleDocs answers the page that renders the document with Swagger UI,
// under a policy that lets it run the server's own scripts and nothing
// else.
func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	secheaders.Set(w, r, apidocs.PagePolicy)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(apidocs.Page())
}

// handleDocsAsset answers a script or stylesheet of the docs page.
func (s *Server) handleDocsAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := apidocs.LookupAsset(r.PathValue("file"))
	if !ok {
		s.WriteError(w, r, apperr.Errorf(apperr.ENOTFOUND, "The requested URL was not found."))
		return
	}
	apidocs.ServeAsset(w, r, a)
}
