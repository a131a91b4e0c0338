package httpapi

// routes lists every route of the API. Later features add theirs through
// Params.Mount.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.handleHealthz)
	m.HandleFunc("GET /readyz", s.handleReadyz)

	// The API's reference: every route of this file and of Params.Mount
	// is described in apidocs/openapi.yaml (TestOpenAPIRoutes checks it).
	m.HandleFunc("GET /api/openapi.json", s.handleOpenAPI)
	m.HandleFunc("GET /api/docs", s.handleDocs)
	m.HandleFunc("GET /api/docs/assets/{file}", s.handleDocsAsset)

	m.HandleFunc("POST /api/register", s.handleRegister)
	m.HandleFunc("POST /api/login", s.handleLogin)
	m.Handle("POST /api/logout", s.RequireUser(s.handleLogout))
	m.Handle("POST /api/logout-all", s.RequireUser(s.handleLogoutAll))
	m.Handle("GET /api/me", s.RequireUser(s.handleMe))
	m.Handle("PUT /api/me/password", s.RequireUser(s.handlePasswordChange))

	m.HandleFunc("GET /api/tours", s.handleTourList)
	m.HandleFunc("GET /api/tours/{id}", s.handleTourShow)

	m.Handle("GET /api/admin/tours", s.RequireAdmin(s.handleAdminTourList))
	m.Handle("POST /api/admin/tours", s.RequireAdmin(s.handleAdminTourCreate))
	m.Handle("GET /api/admin/tours/{id}", s.RequireAdmin(s.handleTourShow))
	m.Handle("PUT /api/admin/tours/{id}", s.RequireAdmin(s.handleAdminTourUpdate))
	m.Handle("PATCH /api/admin/tours/{id}", s.RequireAdmin(s.handleAdminTourUpdate))
	m.Handle("DELETE /api/admin/tours/{id}", s.RequireAdmin(s.handleAdminTourDelete))

	m.Handle("POST /api/bookings", s.RequireUser(s.handleBookingCreate))
	m.Handle("GET /api/bookings", s.RequireUser(s.handleBookingList))
	m.Handle("GET /api/bookings/{id}", s.RequireUser(s.handleBookingShow))
	m.Handle("POST /api/bookings/{id}/cancel", s.RequireUser(s.handleBookingCancel))
}
