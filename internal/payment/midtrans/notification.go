package midtrans

import (
	"bytes"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// MaxNotificationSize is the largest notification body DecodeNotification
// accepts. Real notifications are about one kilobyte.
const MaxNotificationSize = 64 << 10

// Transaction statuses as Midtrans spells them in notifications and status
// responses.
const (
	StatusCapture       = "capture"
	StatusSettlement    = "settlement"
	StatusPending       = "pending"
	StatusAuthorize     = "authorize"
	StatusDeny          = "deny"
	StatusCancel        = "cancel"
	StatusExpire        = "expire"
	StatusFailure       = "failure"
	StatusRefund        = "refund"
	StatusPartialRefund = "partial_refund"
	StatusChargeback    = "chargeback"
)

// Fraud statuses of card captures.
const (
	FraudAccept    = "accept"
	FraudChallenge = "challenge"
	FraudDeny      = "deny"
)

// ErrMalformed is wrapped by every error DecodeNotification returns.
var ErrMalformed = errors.New("midtrans: malformed notification")

// Notification is one HTTP notification from Midtrans. Every field keeps the
// exact string Midtrans sent, because the signature is computed over the raw
// order_id, status_code and gross_amount strings.
type Notification struct {
	OrderID           string
	StatusCode        string
	GrossAmount       string
	SignatureKey      string
	TransactionStatus string
	TransactionID     string
	TransactionTime   string
	SettlementTime    string
	FraudStatus       string
	PaymentType       string
	StatusMessage     string
	MerchantID        string
	Currency          string
}

// notificationFields maps the JSON names DecodeNotification reads to the
// fields they fill.
func (n *Notification) fields() map[string]*string {
	return map[string]*string{
		"order_id":           &n.OrderID,
		"status_code":        &n.StatusCode,
		"gross_amount":       &n.GrossAmount,
		"signature_key":      &n.SignatureKey,
		"transaction_status": &n.TransactionStatus,
		"transaction_id":     &n.TransactionID,
		"transaction_time":   &n.TransactionTime,
		"settlement_time":    &n.SettlementTime,
		"fraud_status":       &n.FraudStatus,
		"payment_type":       &n.PaymentType,
		"status_message":     &n.StatusMessage,
		"merchant_id":        &n.MerchantID,
		"currency":           &n.Currency,
	}
}

// DecodeNotification parses a notification body. The body must be one JSON
// object; the fields it knows must be strings (a JSON number is accepted
// and kept as its literal text, so "150000.00" and 150000.00 both survive
// unchanged), and order_id, status_code, gross_amount, transaction_status
// and signature_key must be present and non-empty. Unknown fields are
// ignored, as Midtrans adds fields per payment type.
func DecodeNotification(raw []byte) (Notification, error) {
	var n Notification
	if len(raw) > MaxNotificationSize {
		return n, fmt.Errorf("%w: body larger than %d bytes", ErrMalformed, MaxNotificationSize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return n, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if obj == nil {
		return n, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return n, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	for name, dst := range n.fields() {
		v, ok := obj[name]
		if !ok {
			continue
		}
		s, err := rawString(v)
		if err != nil {
			return Notification{}, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
		}
		*dst = s
	}
	for _, req := range []struct{ name, val string }{
		{"order_id", n.OrderID}, {"status_code", n.StatusCode}, {"gross_amount", n.GrossAmount},
		{"transaction_status", n.TransactionStatus}, {"signature_key", n.SignatureKey},
	} {
		if req.val == "" {
			return Notification{}, fmt.Errorf("%w: %s is missing", ErrMalformed, req.name)
		}
	}
	return n, nil
}

// rawString returns a JSON string's value or a JSON number's literal text;
// null counts as empty. Anything else is an error.
func rawString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var num json.Number
		if err := json.Unmarshal(v, &num); err != nil {
			return "", err
		}
		return num.String(), nil
	}
	return "", errors.New("must be a string")
}

// Signature returns Midtrans' signature of a notification:
// hex(SHA512(order_id + status_code + gross_amount + server_key)).
func Signature(orderID, statusCode, grossAmount, serverKey string) string {
	sum := signatureSum(orderID, statusCode, grossAmount, serverKey)
	return hex.EncodeToString(sum[:])
}

func signatureSum(orderID, statusCode, grossAmount, serverKey string) [sha512.Size]byte {
	h := sha512.New()
	h.Write([]byte(orderID))
	h.Write([]byte(statusCode))
	h.Write([]byte(grossAmount))
	h.Write([]byte(serverKey))
	var out [sha512.Size]byte
	h.Sum(out[:0])
	return out
}

// VerifySignature reports whether n carries a valid signature for serverKey.
// The comparison is constant-time over the 64 digest bytes, so the time it
// takes tells an attacker nothing about how much of a forged signature was
// right. An empty server key never verifies anything.
func VerifySignature(n Notification, serverKey string) bool {
	return ValidSignature(n.OrderID, n.StatusCode, n.GrossAmount, n.SignatureKey, serverKey)
}

// ValidSignature is VerifySignature on the raw strings.
func ValidSignature(orderID, statusCode, grossAmount, signature, serverKey string) bool {
	if serverKey == "" {
		return false
	}
	got, err := hex.DecodeString(signature)
	want := signatureSum(orderID, statusCode, grossAmount, serverKey)
	if err != nil || len(got) != len(want) {
		// The length and alphabet of a signature are public; only the
		// digest bytes must be compared in constant time.
		return false
	}
	return subtle.ConstantTimeCompare(got, want[:]) == 1
}

// ParseAmount parses a Midtrans gross_amount into whole rupiah. It accepts
// plain digits ("150000") and digits with a zero fraction of one or two
// places ("150000.0", "150000.00"); a non-zero fraction ("150000.50"), a
// sign, leading zeros, exponents, spaces, overflow and anything else are
// rejected, so a parsed amount is always exactly what was charged.
func ParseAmount(s string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 18 {
		return 0, fmt.Errorf("midtrans: invalid amount %q", s)
	}
	for i := 0; i < len(whole); i++ {
		if whole[i] < '0' || whole[i] > '9' {
			return 0, fmt.Errorf("midtrans: invalid amount %q", s)
		}
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, fmt.Errorf("midtrans: invalid amount %q: leading zero", s)
	}
	if hasFrac {
		if frac == "" || len(frac) > 2 {
			return 0, fmt.Errorf("midtrans: invalid amount %q", s)
		}
		for i := 0; i < len(frac); i++ {
			if frac[i] < '0' || frac[i] > '9' {
				return 0, fmt.Errorf("midtrans: invalid amount %q", s)
			}
			if frac[i] != '0' {
				return 0, fmt.Errorf("midtrans: amount %q is not whole rupiah", s)
			}
		}
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > math.MaxInt64/100 {
		return 0, fmt.Errorf("midtrans: invalid amount %q", s)
	}
	return n, nil
}

// FormatAmount writes whole rupiah the way Midtrans writes gross_amount in
// notifications ("150000.00").
func FormatAmount(rupiah int64) string {
	return strconv.FormatInt(rupiah, 10) + ".00"
}

// StatusCodeFor returns the status_code Midtrans sends with a transaction
// status (and, for captures, a fraud status): 200 for a success (a card
// authorised, captured or settled, a cancel, a refund), 201 for pending
// (and a capture held for review), 202 for a denial or failure, 407 for
// an expiry.
func StatusCodeFor(transactionStatus, fraudStatus string) string {
	switch transactionStatus {
	case StatusPending:
		return "201"
	case StatusCapture:
		if fraudStatus == FraudChallenge {
			return "201"
		}
		if fraudStatus == FraudDeny {
			return "202"
		}
		return "200"
	case StatusDeny, StatusFailure:
		return "202"
	case StatusExpire:
		return "407"
	default:
		return "200"
	}
}

// ExpectedStatusCodes returns the status_code values a genuine
// notification (or status answer) carries with transactionStatus and
// fraudStatus, or nil for the statuses Tripin records but never acts on
// (chargeback and those Midtrans may add). The signature covers
// status_code but not transaction_status or fraud_status, so a signed
// notification replayed with its status rewritten shows as a status_code
// that does not fit. Where Midtrans' documentation allows two codes, both
// are accepted: a genuine notification refused here would never be
// applied.
func ExpectedStatusCodes(transactionStatus, fraudStatus string) []string {
	switch transactionStatus {
	case StatusSettlement, StatusCancel, StatusRefund, StatusPartialRefund:
		return []string{"200"}
	case StatusCapture:
		switch fraudStatus {
		case FraudAccept:
			return []string{"200"}
		case FraudChallenge:
			return []string{"201"}
		case FraudDeny:
			return []string{"202"}
		}
		// A capture without a fraud status is held for review by Tripin;
		// Midtrans answers it as a success or a pending.
		return []string{"200", "201"}
	case StatusPending:
		return []string{"201"}
	case StatusAuthorize:
		return []string{"200", "201"}
	case StatusDeny, StatusFailure:
		return []string{"202"}
	case StatusExpire:
		return []string{"407"}
	}
	return nil
}

// StatusCodeFits reports whether statusCode is one a genuine notification
// carries with transactionStatus and fraudStatus (always true for the
// statuses ExpectedStatusCodes does not know).
func StatusCodeFits(statusCode, transactionStatus, fraudStatus string) bool {
	want := ExpectedStatusCodes(transactionStatus, fraudStatus)
	if want == nil {
		return true
	}
	for _, c := range want {
		if c == statusCode {
			return true
		}
	}
	return false
}

// NotificationParams describe a notification to build with
// BuildNotification.
type NotificationParams struct {
	OrderID           string
	GrossAmount       int64
	TransactionStatus string
	FraudStatus       string
	TransactionID     string
	PaymentType       string
	TransactionTime   string
}

// BuildNotification returns the JSON body of a correctly signed
// notification, as Midtrans would send it. The simulator and the fake
// server use it; production code only ever verifies.
func BuildNotification(serverKey string, p NotificationParams) []byte {
	gross := FormatAmount(p.GrossAmount)
	code := StatusCodeFor(p.TransactionStatus, p.FraudStatus)
	paymentType := p.PaymentType
	if paymentType == "" {
		paymentType = "bank_transfer"
		if p.TransactionStatus == StatusCapture {
			paymentType = "credit_card"
		}
	}
	body := map[string]string{
		"order_id":           p.OrderID,
		"status_code":        code,
		"gross_amount":       gross,
		"signature_key":      Signature(p.OrderID, code, gross, serverKey),
		"transaction_status": p.TransactionStatus,
		"transaction_id":     p.TransactionID,
		"transaction_time":   p.TransactionTime,
		"payment_type":       paymentType,
		"status_message":     "midtrans payment notification",
		"currency":           "IDR",
	}
	if p.FraudStatus != "" {
		body["fraud_status"] = p.FraudStatus
	}
	b, err := json.Marshal(body)
	if err != nil {
		// A map of strings always marshals.
		panic(err)
	}
	return b
}
