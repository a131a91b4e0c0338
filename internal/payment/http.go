package payment

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/money"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/secheaders"
)

// Handlers are the HTTP endpoints of payments. The API server mounts them
// with Mount, giving them its authentication and error writer:
//
//	POST /api/midtrans/callback      Callback       public (Midtrans signs it; rejected ones limited per address)
//	POST /api/payments/simulate      Simulate       the booking's owner or an admin; 404 unless the simulator is enabled
//	GET  /simulator/{code}           SimulatorPage  a signed link (SimulatorURL); 404 unless the simulator is enabled
//	POST /simulator/{code}           SimulatorForm  a signed link (SimulatorURL); 404 unless the simulator is enabled
//	POST /api/bookings/{id}/pay      Pay            authenticated user (the booking's owner)
//	GET  /api/bookings/{id}/ticket   Ticket         owner or admin, or a signed link (TicketURL)
type Handlers struct {
	Service *Service
	Config  *config.Config
	Logger  *slog.Logger
	// User returns the authenticated user of a request that went through
	// the server's authentication middleware.
	User func(r *http.Request) (userID int64, isAdmin bool, ok bool)
	// WriteError answers with err in the API's error shape; nil uses an
	// equivalent local writer.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// ClientIP returns the address a request came from, by the server's
	// proxy rules; nil uses the connection's address. Rejected
	// notifications are limited per address.
	ClientIP func(r *http.Request) string
}

// Mount registers every payment route on mux. requireUser wraps the routes
// that need a logged-in user (the server's RequireUser).
func (h *Handlers) Mount(mux *http.ServeMux, requireUser func(http.HandlerFunc) http.Handler) {
	mux.HandleFunc("POST /api/midtrans/callback", h.Callback)
	authSimulate := requireUser(h.Simulate)
	mux.HandleFunc("POST /api/payments/simulate", func(w http.ResponseWriter, r *http.Request) {
		// Where the simulator is off the route does not exist, for the
		// logged-in and the anonymous alike: 404 before any 401.
		if !h.Config.SimulatorEnabled() {
			h.notFound(w, r)
			return
		}
		authSimulate.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /simulator/{code}", h.SimulatorPage)
	mux.HandleFunc("POST /simulator/{code}", h.SimulatorForm)
	mux.Handle("POST /api/bookings/{id}/pay", requireUser(h.Pay))
	authTicket := requireUser(h.Ticket)
	mux.HandleFunc("GET /api/bookings/{id}/ticket", func(w http.ResponseWriter, r *http.Request) {
		// A signed link (from the e-ticket email) opens without a login.
		if r.URL.Query().Has("signature") {
			h.Ticket(w, r)
			return
		}
		authTicket.ServeHTTP(w, r)
	})
}

// Callback receives a Midtrans HTTP notification. It answers 200 once the
// notification is confirmed with the Status API, stored and applied, 400
// for a malformed body, 403 for a bad signature, 404 for an unknown order
// or transaction, 422 for a wrong amount or status_code, 429 (with
// Retry-After) for an address past its limit of rejected notifications,
// and 503 when the Status API cannot be reached (Midtrans retries).
func (h *Handlers) Callback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, midtrans.MaxNotificationSize+1))
	if err != nil {
		h.writeError(w, r, bodyError(err))
		return
	}
	if len(body) > midtrans.MaxNotificationSize {
		h.writeError(w, r, apperr.Errorf(apperr.ETOOLARGE, "The notification is larger than %d bytes.", midtrans.MaxNotificationSize))
		return
	}
	out, err := h.Service.Receive(r.Context(), Delivery{Body: body, RemoteIP: h.clientIP(r)})
	if err != nil {
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			w.Header().Set("Retry-After", ra.Seconds())
		}
		h.writeError(w, r, err)
		return
	}
	writeData(w, http.StatusOK, map[string]string{"outcome": string(out)})
}

func (h *Handlers) clientIP(r *http.Request) string {
	if h.ClientIP != nil {
		return h.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handlers) notFound(w http.ResponseWriter, r *http.Request) {
	h.writeError(w, r, apperr.Errorf(apperr.ENOTFOUND, "The requested URL was not found."))
}

// simulateRequest is the body of POST /api/payments/simulate.
type simulateRequest struct {
	OrderID           string `json:"order_id"`
	TransactionStatus string `json:"transaction_status"`
}

// Simulate plays Midtrans for a booking of the logged-in user (any
// booking, for an admin): it builds a correctly signed notification and
// sends it through the same handler as Callback.
func (h *Handlers) Simulate(w http.ResponseWriter, r *http.Request) {
	if !h.Config.SimulatorEnabled() {
		h.notFound(w, r)
		return
	}
	uid, admin, ok := h.user(r)
	if !ok {
		h.writeError(w, r, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated."))
		return
	}
	var req simulateRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		h.writeError(w, r, bodyError(err))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		h.writeError(w, r, &apperr.Error{Code: apperr.EMALFORMED, Message: "The body must be a JSON object with order_id and transaction_status strings.", Err: err})
		return
	}
	out, err := h.Service.SimulateAs(r.Context(), uid, admin, req.OrderID, req.TransactionStatus)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeData(w, http.StatusOK, map[string]string{"order_id": req.OrderID, "transaction_status": req.TransactionStatus, "outcome": string(out)})
}

// Pay answers the Snap token and redirect URL of the user's pending
// booking, creating the Snap transaction on the first call.
func (h *Handlers) Pay(w http.ResponseWriter, r *http.Request) {
	uid, _, ok := h.user(r)
	if !ok {
		h.writeError(w, r, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated."))
		return
	}
	id, err := pathID(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p, err := h.Service.Pay(r.Context(), id, uid)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeData(w, http.StatusOK, p)
}

// Ticket answers the printable HTML e-ticket of a paid booking, to its
// owner, an admin, or anyone holding a link from Service.TicketURL.
func (h *Handlers) Ticket(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	uid, admin, ok := h.user(r)
	if q := r.URL.Query(); q.Has("signature") {
		if err := h.Service.CheckTicketLink(id, q); err != nil {
			h.writeError(w, r, err)
			return
		}
		// The link stands for the booking's owner.
		uid, admin, ok = 0, true, true
	}
	if !ok {
		h.writeError(w, r, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated."))
		return
	}
	t, err := h.Service.Ticket(r.Context(), id, uid, admin)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := RenderTicket(&buf, t, h.Config.AppTimezone); err != nil {
		h.writeError(w, r, err)
		return
	}
	secheaders.Set(w, r, ticketPolicy)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// simulatorPage is the simulator page's template; its inline style is
// static and allowed by hash (simulatorPolicy).
const simulatorPage = `<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{t "simulator.title" "code" .Code}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:560px;margin:2rem auto;padding:0 1rem;color:#111827}
.note{background:#fef3c7;border:1px solid #f59e0b;padding:.5rem .75rem;border-radius:6px}
.result{background:#ecfdf5;border:1px solid #10b981;padding:.5rem .75rem;border-radius:6px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#6b7280}dd{margin:0;font-weight:600}
form{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:1rem}
button{padding:.5rem .9rem;border-radius:6px;border:1px solid #9ca3af;background:#fff;cursor:pointer}
button.pay{background:#059669;color:#fff;border-color:#059669}
</style>
</head>
<body>
<h1>{{t "simulator.heading"}}</h1>
<p class="note">{{t "simulator.note"}}</p>
{{if .Outcome}}<p class="result">{{t "simulator.sent"}} <b>{{.Sent}}</b>: {{t "simulator.outcome"}} <b>{{.Outcome}}</b>.</p>{{end}}
<dl>
<dt>{{t "simulator.order"}}</dt><dd>{{.Code}}</dd>
<dt>{{t "simulator.amount"}}</dt><dd>{{.Amount}}</dd>
<dt>{{t "simulator.status"}}</dt><dd>{{.Status}}{{if .NeedsRefund}} {{t "simulator.needs_refund"}}{{end}}</dd>
</dl>
<form method="post">
<button class="pay" name="transaction_status" value="settlement">{{t "simulator.settlement"}}</button>
<button name="transaction_status" value="capture">{{t "simulator.capture"}}</button>
<button name="transaction_status" value="challenge">{{t "simulator.challenge"}}</button>
<button name="transaction_status" value="pending">{{t "simulator.pending"}}</button>
<button name="transaction_status" value="deny">{{t "simulator.deny"}}</button>
<button name="transaction_status" value="cancel">{{t "simulator.cancel"}}</button>
<button name="transaction_status" value="expire">{{t "simulator.expire"}}</button>
<button name="transaction_status" value="failure">{{t "simulator.failure"}}</button>
<button name="transaction_status" value="refund">{{t "simulator.refund"}}</button>
</form>
</body>
</html>
`

var (
	simulatorTemplates = localizedTemplates("simulator", simulatorPage)
	simulatorPolicy    = secheaders.PagePolicy(simulatorPage)
)

// SimulatorPage shows a booking with one button per Midtrans outcome, to
// whoever holds a signed, unexpired link to it (SimulatorURL).
func (h *Handlers) SimulatorPage(w http.ResponseWriter, r *http.Request) {
	if !h.Config.SimulatorEnabled() {
		h.notFound(w, r)
		return
	}
	code := r.PathValue("code")
	if err := h.Service.checkSimulatorLink(code, r.URL.Query()); err != nil {
		h.writeError(w, r, err)
		return
	}
	b, err := h.Service.db.BookingPaymentGetByCode(r.Context(), code)
	if apperr.IsNotFound(err) {
		h.writeError(w, r, apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id."))
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	tmpl, l, err := localized(simulatorTemplates, h.Config.AppLocale)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	data := map[string]any{
		"Lang": l.Tag(), "Code": b.Code, "Amount": money.FormatRupiah(b.TotalAmount), "Status": b.Status, "NeedsRefund": b.NeedsRefund,
		"Sent": r.URL.Query().Get("sent"), "Outcome": r.URL.Query().Get("outcome"),
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		h.writeError(w, r, err)
		return
	}
	secheaders.Set(w, r, simulatorPolicy)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// SimulatorForm handles the simulator page's buttons, which post to the
// page's own signed link, and redirects back to the page with the outcome.
func (h *Handlers) SimulatorForm(w http.ResponseWriter, r *http.Request) {
	if !h.Config.SimulatorEnabled() {
		h.notFound(w, r)
		return
	}
	link := r.URL.Query()
	if err := h.Service.checkSimulatorLink(r.PathValue("code"), link); err != nil {
		h.writeError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		h.writeError(w, r, &apperr.Error{Code: apperr.EMALFORMED, Message: "The form could not be read.", Err: err})
		return
	}
	code, status := r.PathValue("code"), r.PostForm.Get("transaction_status")
	out, err := h.Service.Simulate(r.Context(), code, status)
	if err != nil && apperr.Code(err) != apperr.EINVALID {
		h.writeError(w, r, err)
		return
	}
	if err != nil {
		out = Outcome(apperr.Message(err))
	}
	q := url.Values{"sent": {status}, "outcome": {string(out)}, "expires": {link.Get("expires")}, "signature": {link.Get("signature")}}
	http.Redirect(w, r, "/simulator/"+url.PathEscape(code)+"?"+q.Encode(), http.StatusSeeOther)
}

func (h *Handlers) user(r *http.Request) (int64, bool, bool) {
	if h.User == nil {
		return 0, false, false
	}
	return h.User(r)
}

func (h *Handlers) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if h.WriteError != nil {
		h.WriteError(w, r, err)
		return
	}
	status := statusOf(err)
	if status >= 500 && h.Logger != nil {
		h.Logger.ErrorContext(r.Context(), "payment: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var fields map[string]string
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code != apperr.EINTERNAL {
		fields = ae.Fields
	}
	if fields == nil {
		fields = map[string]string{}
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": apperr.Code(err), "message": apperr.Message(err), "fields": fields,
	}})
}

// statusOf mirrors the API server's table of statuses for the codes the
// payment handlers produce; it is used only when no WriteError is wired.
func statusOf(err error) int {
	switch apperr.Code(err) {
	case apperr.EMALFORMED:
		return http.StatusBadRequest
	case apperr.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case apperr.EFORBIDDEN:
		return http.StatusForbidden
	case apperr.ENOTFOUND:
		return http.StatusNotFound
	case apperr.ECONFLICT, apperr.ESOLDOUT:
		return http.StatusConflict
	case apperr.EINVALID:
		return http.StatusUnprocessableEntity
	case apperr.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case apperr.ERATELIMITED:
		return http.StatusTooManyRequests
	case apperr.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.Errorf(apperr.ETOOLARGE, "The request body is larger than %d bytes.", mbe.Limit)
	}
	return &apperr.Error{Code: apperr.EMALFORMED, Message: "The request body could not be read.", Err: err}
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	return id, nil
}

func writeData(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, map[string]any{"data": v})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"An internal error occurred.","fields":{}}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
