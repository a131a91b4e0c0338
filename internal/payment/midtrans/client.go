// Package midtrans is a small Midtrans client on net/http: Snap transactions,
// the Core API status and expire calls, and the verification of HTTP
// notifications. The server key is sent only in the Authorization header;
// it never appears in errors or logs.
package midtrans

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one API call when Client.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// TimeFormat is the layout of Snap's expiry.start_time.
const TimeFormat = "2006-01-02 15:04:05 -0700"

// WIB is Western Indonesia Time (UTC+7, no daylight saving), the zone
// Tripin sends Snap expiry times in.
var WIB = time.FixedZone("WIB", 7*60*60)

// Sentinel errors, matched with errors.Is.
var (
	// ErrDuplicateOrder means Midtrans already has a transaction with this
	// order_id.
	ErrDuplicateOrder = errors.New("midtrans: order_id already used")
	// ErrTransactionNotFound means Midtrans knows no transaction for the
	// order_id.
	ErrTransactionNotFound = errors.New("midtrans: transaction not found")
	// ErrUnauthorized means Midtrans rejected the server key.
	ErrUnauthorized = errors.New("midtrans: unauthorized")
)

// Client calls Midtrans. The zero value is not usable: set ServerKey,
// SnapURL and APIURL (config.MidtransSnapURL and config.MidtransAPIURL).
type Client struct {
	ServerKey string
	// SnapURL is the Snap base URL, e.g. https://app.sandbox.midtrans.com.
	SnapURL string
	// APIURL is the Core API base URL, e.g. https://api.sandbox.midtrans.com.
	APIURL string
	// HTTPClient defaults to a client without its own timeout; every call
	// is bounded by Timeout through its context instead.
	HTTPClient *http.Client
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
}

// APIError is an error answer from Midtrans.
type APIError struct {
	Op         string // "create transaction", "status", "expire"
	HTTPStatus int
	// StatusCode is the status_code of a Core API body, when there is one.
	StatusCode string
	Messages   []string
}

func (e *APIError) Error() string {
	msg := strings.Join(e.Messages, "; ")
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus)
	}
	if e.StatusCode != "" {
		return fmt.Sprintf("midtrans: %s: HTTP %d, status_code %s: %s", e.Op, e.HTTPStatus, e.StatusCode, msg)
	}
	return fmt.Sprintf("midtrans: %s: HTTP %d: %s", e.Op, e.HTTPStatus, msg)
}

// Is lets errors.Is match the sentinel errors: Midtrans answers a reused
// order_id with HTTP 406 or status_code 406 on the Core API and with 400
// "has already been taken" (or the Indonesian "sudah digunakan") on Snap.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrDuplicateOrder:
		if e.HTTPStatus == http.StatusNotAcceptable || e.StatusCode == "406" {
			return true
		}
		for _, m := range e.Messages {
			m = strings.ToLower(m)
			if strings.Contains(m, "order_id") && (strings.Contains(m, "already") || strings.Contains(m, "sudah digunakan")) {
				return true
			}
		}
	case ErrTransactionNotFound:
		return e.HTTPStatus == http.StatusNotFound || e.StatusCode == "404"
	case ErrUnauthorized:
		return e.HTTPStatus == http.StatusUnauthorized || e.StatusCode == "401"
	}
	return false
}

// SnapRequest is the body of a Snap transaction.
type SnapRequest struct {
	TransactionDetails TransactionDetails `json:"transaction_details"`
	ItemDetails        []ItemDetail       `json:"item_details,omitempty"`
	CustomerDetails    *CustomerDetails   `json:"customer_details,omitempty"`
	Expiry             *SnapExpiry        `json:"expiry,omitempty"`
	Callbacks          *SnapCallbacks     `json:"callbacks,omitempty"`
}

// TransactionDetails names the order and its amount in whole rupiah.
type TransactionDetails struct {
	OrderID     string `json:"order_id"`
	GrossAmount int64  `json:"gross_amount"`
}

// ItemDetail is one line of the order; price × quantity over all items must
// equal GrossAmount.
type ItemDetail struct {
	ID       string `json:"id,omitempty"`
	Price    int64  `json:"price"`
	Quantity int64  `json:"quantity"`
	Name     string `json:"name"`
}

// CustomerDetails identifies the payer.
type CustomerDetails struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
}

// SnapExpiry bounds how long the Snap payment page accepts a payment.
// StartTime uses TimeFormat; Unit is "minute", "minutes", "hour" or "day".
type SnapExpiry struct {
	StartTime string `json:"start_time,omitempty"`
	Unit      string `json:"unit"`
	Duration  int64  `json:"duration"`
}

// SnapCallbacks is where Snap sends the customer after paying.
type SnapCallbacks struct {
	Finish string `json:"finish,omitempty"`
}

// NewSnapExpiry returns an expiry that starts at start (written in WIB) and
// lasts the given whole minutes.
func NewSnapExpiry(start time.Time, minutes int64) *SnapExpiry {
	return &SnapExpiry{StartTime: start.In(WIB).Format(TimeFormat), Unit: "minutes", Duration: minutes}
}

// Validate checks what Midtrans would reject: an empty or over-long order_id,
// a non-positive amount, and item details that do not add up.
func (r *SnapRequest) Validate() error {
	if r.TransactionDetails.OrderID == "" || len(r.TransactionDetails.OrderID) > 50 {
		return errors.New("midtrans: order_id must be 1 to 50 characters")
	}
	if r.TransactionDetails.GrossAmount <= 0 {
		return errors.New("midtrans: gross_amount must be positive")
	}
	if len(r.ItemDetails) > 0 {
		var sum int64
		for _, it := range r.ItemDetails {
			if it.Quantity <= 0 || it.Price < 0 {
				return fmt.Errorf("midtrans: item %q: price and quantity must be positive", it.ID)
			}
			sum += it.Price * it.Quantity
		}
		if sum != r.TransactionDetails.GrossAmount {
			return fmt.Errorf("midtrans: item details sum to %d, gross_amount is %d", sum, r.TransactionDetails.GrossAmount)
		}
	}
	return nil
}

// SnapResponse is Snap's answer to a created transaction.
type SnapResponse struct {
	Token       string `json:"token"`
	RedirectURL string `json:"redirect_url"`
}

// CreateTransaction creates a Snap transaction. A reused order_id fails
// with an error matching ErrDuplicateOrder.
func (c *Client) CreateTransaction(ctx context.Context, req SnapRequest) (SnapResponse, error) {
	var out SnapResponse
	if err := req.Validate(); err != nil {
		return out, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return out, fmt.Errorf("midtrans: create transaction: %w", err)
	}
	status, resp, err := c.do(ctx, http.MethodPost, c.SnapURL+"/snap/v1/transactions", body)
	if err != nil {
		return out, fmt.Errorf("midtrans: create transaction: %w", err)
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return out, snapError("create transaction", status, resp)
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return out, fmt.Errorf("midtrans: create transaction: decode answer: %w", err)
	}
	if out.Token == "" {
		return out, errors.New("midtrans: create transaction: answer has no token")
	}
	return out, nil
}

func snapError(op string, status int, body []byte) error {
	var e struct {
		ErrorMessages []string `json:"error_messages"`
	}
	_ = json.Unmarshal(body, &e)
	return &APIError{Op: op, HTTPStatus: status, Messages: e.ErrorMessages}
}

// StatusResponse is a Core API transaction status (also the answer to an
// expire call). Amounts and codes are kept as Midtrans' strings.
type StatusResponse struct {
	StatusCode        string `json:"status_code"`
	StatusMessage     string `json:"status_message"`
	OrderID           string `json:"order_id"`
	TransactionID     string `json:"transaction_id"`
	TransactionStatus string `json:"transaction_status"`
	FraudStatus       string `json:"fraud_status"`
	GrossAmount       string `json:"gross_amount"`
	PaymentType       string `json:"payment_type"`
	TransactionTime   string `json:"transaction_time"`
	SignatureKey      string `json:"signature_key"`
}

// Status fetches a transaction's current status from the Core API. An
// unknown order fails with an error matching ErrTransactionNotFound.
func (c *Client) Status(ctx context.Context, orderID string) (StatusResponse, error) {
	return c.coreCall(ctx, "status", http.MethodGet, orderID, "/status")
}

// Expire ends a pending transaction at Midtrans so it can no longer be paid.
func (c *Client) Expire(ctx context.Context, orderID string) (StatusResponse, error) {
	return c.coreCall(ctx, "expire", http.MethodPost, orderID, "/expire")
}

func (c *Client) coreCall(ctx context.Context, op, method, orderID, suffix string) (StatusResponse, error) {
	var out StatusResponse
	if orderID == "" {
		return out, fmt.Errorf("midtrans: %s: empty order_id", op)
	}
	status, resp, err := c.do(ctx, method, c.APIURL+"/v2/"+url.PathEscape(orderID)+suffix, nil)
	if err != nil {
		return out, fmt.Errorf("midtrans: %s: %w", op, err)
	}
	if jerr := json.Unmarshal(resp, &out); jerr != nil && status < 300 {
		return out, fmt.Errorf("midtrans: %s: decode answer: %w", op, jerr)
	}
	// The Core API answers HTTP 200 with its own status_code in the body;
	// 2xx and 407 (expired) describe a transaction, the rest are errors.
	code, _ := strconv.Atoi(out.StatusCode)
	if status >= 300 || (code >= 300 && code != 407) {
		e := &APIError{Op: op, HTTPStatus: status, StatusCode: out.StatusCode}
		if out.StatusMessage != "" {
			e.Messages = []string{out.StatusMessage}
		}
		return StatusResponse{}, e
	}
	return out, nil
}

// do sends one request with the server key and returns the status and body.
// Errors never include the key: it travels only in the header.
func (c *Client) do(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(c.ServerKey, "")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, b, nil
}
