// Package midtranstest is a fake Midtrans for tests and for `serve` in local
// mode without keys. It speaks the subset of Snap and the Core API that
// Tripin uses, checks what real Midtrans checks (Basic auth with the server
// key, a unique order_id, item details adding up to gross_amount), answers
// status queries and can deliver signed notifications to a webhook.
package midtranstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tripintravel/tripin/internal/payment/midtrans"
)

// Transaction is one transaction the fake knows.
type Transaction struct {
	Request           midtrans.SnapRequest
	Token             string
	TransactionID     string
	TransactionStatus string
	FraudStatus       string
	PaymentType       string
	CreatedAt         time.Time
}

// Server is a running fake Midtrans. Point both config.MidtransSnapURL and
// config.MidtransAPIURL at URL.
type Server struct {
	URL       string
	ServerKey string
	// RedirectURL, when set, builds the redirect_url of new transactions
	// (for example the local payment simulator page). By default it points
	// at a small page on the fake itself.
	RedirectURL func(orderID, token string) string
	// HTTPClient delivers notifications; nil means http.DefaultClient.
	HTTPClient *http.Client

	srv *httptest.Server

	mu       sync.Mutex
	txs      map[string]*Transaction
	creates  int // successful Snap creations
	requests int // every request, accepted or not
}

// NewServer starts a fake Midtrans that accepts serverKey. Close it when done.
func NewServer(serverKey string) *Server {
	s := &Server{ServerKey: serverKey, txs: map[string]*Transaction{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// SetRedirectURL replaces RedirectURL while the fake is serving; nil
// restores the fake's own payment page.
func (s *Server) SetRedirectURL(fn func(orderID, token string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.RedirectURL = fn
}

// Client returns a midtrans.Client pointed at the fake with its key.
func (s *Server) Client() *midtrans.Client {
	return &midtrans.Client{ServerKey: s.ServerKey, SnapURL: s.URL, APIURL: s.URL, Timeout: 5 * time.Second}
}

// Creates returns how many Snap transactions the fake has created.
func (s *Server) Creates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates
}

// Requests returns how many requests the fake has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Transaction returns a copy of the transaction for orderID.
func (s *Server) Transaction(orderID string) (Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txs[orderID]
	if !ok {
		return Transaction{}, false
	}
	return *t, true
}

// SetStatus changes a transaction's status as a payment would, without
// notifying anyone. It creates the transaction when the fake does not know
// it yet, so tests can prepare status answers for any order.
func (s *Server) SetStatus(orderID string, grossAmount int64, transactionStatus, fraudStatus string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txs[orderID]
	if !ok {
		t = &Transaction{
			Request:       midtrans.SnapRequest{TransactionDetails: midtrans.TransactionDetails{OrderID: orderID, GrossAmount: grossAmount}},
			TransactionID: newID(), CreatedAt: time.Now(),
		}
		s.txs[orderID] = t
	}
	t.TransactionStatus, t.FraudStatus = transactionStatus, fraudStatus
	if t.PaymentType == "" {
		t.PaymentType = "bank_transfer"
	}
}

// Notification builds the signed notification the fake would send for the
// transaction's current status after SetStatus.
func (s *Server) Notification(orderID string) ([]byte, error) {
	s.mu.Lock()
	t, ok := s.txs[orderID]
	var p midtrans.NotificationParams
	if ok {
		p = midtrans.NotificationParams{
			OrderID: orderID, GrossAmount: t.Request.TransactionDetails.GrossAmount,
			TransactionStatus: t.TransactionStatus, FraudStatus: t.FraudStatus,
			TransactionID: t.TransactionID, PaymentType: t.PaymentType,
			TransactionTime: time.Now().In(midtrans.WIB).Format("2006-01-02 15:04:05"),
		}
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("midtranstest: unknown order %q", orderID)
	}
	return midtrans.BuildNotification(s.ServerKey, p), nil
}

// Notify sets the transaction's status and POSTs the signed notification to
// webhookURL, as Midtrans does after a payment event. It returns the
// webhook's HTTP status.
func (s *Server) Notify(ctx context.Context, webhookURL, orderID, transactionStatus, fraudStatus string) (int, error) {
	s.mu.Lock()
	t, ok := s.txs[orderID]
	if ok {
		t.TransactionStatus, t.FraudStatus = transactionStatus, fraudStatus
	}
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("midtranstest: unknown order %q", orderID)
	}
	body, err := s.Notification(orderID)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("midtranstest: notify: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := s.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("midtranstest: notify: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// ServeHTTP answers Snap and Core API calls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/snap/v4/redirection/") && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>Fake Snap</title><p>Fake Midtrans Snap payment page.</p>")
		return
	}
	if !s.authorized(r) {
		// Midtrans answers a bad key with 401 on both APIs.
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"status_code": "401", "status_message": "Unknown Merchant server_key/id",
			"error_messages": []string{"Access denied due to unauthorized transaction, please check client or server key"},
		})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/snap/v1/transactions":
		s.create(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/") && strings.HasSuffix(r.URL.Path, "/status"):
		s.status(w, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/status"), false)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/") && strings.HasSuffix(r.URL.Path, "/expire"):
		s.status(w, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/expire"), true)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error_messages": []string{"not found"}})
	}
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || pass != "" || s.ServerKey == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(user), []byte(s.ServerKey)) == 1
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req midtrans.SnapRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": []string{"request body is not valid JSON"}})
		return
	}
	var msgs []string
	td := req.TransactionDetails
	if td.OrderID == "" {
		msgs = append(msgs, "transaction_details.order_id is required")
	}
	if td.GrossAmount < 1 {
		msgs = append(msgs, "transaction_details.gross_amount must be greater than or equal to 1")
	}
	if len(req.ItemDetails) > 0 {
		var sum int64
		for _, it := range req.ItemDetails {
			sum += it.Price * it.Quantity
			if it.Name == "" {
				msgs = append(msgs, "item_details.name is required")
			}
		}
		if sum != td.GrossAmount {
			msgs = append(msgs, "transaction_details.gross_amount is not equal to the sum of item_details")
		}
	}
	if req.Expiry != nil {
		if req.Expiry.StartTime != "" {
			if _, err := time.Parse(midtrans.TimeFormat, req.Expiry.StartTime); err != nil {
				msgs = append(msgs, "expiry.start_time format must be yyyy-MM-dd HH:mm:ss Z")
			}
		}
		switch req.Expiry.Unit {
		case "minute", "minutes", "hour", "hours", "day", "days":
		default:
			msgs = append(msgs, "expiry.unit is invalid")
		}
		if req.Expiry.Duration < 1 {
			msgs = append(msgs, "expiry.duration must be positive")
		}
	}
	if len(msgs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_messages": msgs})
		return
	}
	s.mu.Lock()
	if _, dup := s.txs[td.OrderID]; dup {
		s.mu.Unlock()
		// Midtrans refuses to reuse an order_id, paid or not.
		writeJSON(w, http.StatusNotAcceptable, map[string]any{
			"error_messages": []string{"transaction_details.order_id has already been taken"},
		})
		return
	}
	t := &Transaction{Request: req, Token: newID(), TransactionID: newID(), CreatedAt: time.Now()}
	s.txs[td.OrderID] = t
	s.creates++
	redirect := s.RedirectURL
	s.mu.Unlock()
	u := s.URL + "/snap/v4/redirection/" + t.Token
	if redirect != nil {
		u = redirect(td.OrderID, t.Token)
	}
	writeJSON(w, http.StatusCreated, midtrans.SnapResponse{Token: t.Token, RedirectURL: u})
}

// status answers a status query, or an expire call when expire is set. As
// the Core API does, it answers HTTP 200 with the real code in the body.
func (s *Server) status(w http.ResponseWriter, orderID string, expire bool) {
	s.mu.Lock()
	t, ok := s.txs[orderID]
	if ok && expire {
		if t.TransactionStatus != "" && t.TransactionStatus != midtrans.StatusPending {
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{
				"status_code": "412", "status_message": "Merchant cannot modify the status of the transaction",
			})
			return
		}
		t.TransactionStatus = midtrans.StatusExpire
	}
	var resp midtrans.StatusResponse
	if ok {
		st := t.TransactionStatus
		if st == "" {
			st = midtrans.StatusPending
		}
		gross := midtrans.FormatAmount(t.Request.TransactionDetails.GrossAmount)
		code := midtrans.StatusCodeFor(st, t.FraudStatus)
		resp = midtrans.StatusResponse{
			StatusCode: code, StatusMessage: "Success, transaction is found", OrderID: orderID,
			TransactionID: t.TransactionID, TransactionStatus: st, FraudStatus: t.FraudStatus,
			GrossAmount: gross, PaymentType: t.PaymentType,
			TransactionTime: t.CreatedAt.In(midtrans.WIB).Format("2006-01-02 15:04:05"),
			SignatureKey:    midtrans.Signature(orderID, code, gross, s.ServerKey),
		}
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"status_code": "404", "status_message": "Transaction doesn't exist."})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// StartLocal starts a fake Midtrans for `serve` in local mode without keys.
// It makes up a random server key (so notifications are still signed and
// verified) and sends customers who open the Snap redirect URL to the
// payment simulator page of appURL. Point MIDTRANS_SERVER_KEY,
// MIDTRANS_SNAP_URL and MIDTRANS_API_URL at the returned server's
// ServerKey and URL.
func StartLocal(appURL string) *Server {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := NewServer("SB-Mid-server-local-" + hex.EncodeToString(b))
	appURL = strings.TrimRight(appURL, "/")
	s.RedirectURL = func(orderID, token string) string {
		return appURL + "/simulator/" + url.PathEscape(orderID)
	}
	return s
}
