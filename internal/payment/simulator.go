package payment

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
)

// LinkSigner signs links that open a page without a login, for one
// purpose and one id, until a time. HMACSigner under APP_KEY is the one
// Tripin uses.
type LinkSigner interface {
	// Sign returns the signature of (purpose, id, expires).
	Sign(purpose, id string, expires time.Time) string
	// Verify reports, in constant time, whether signature is Sign's for
	// (purpose, id, expires). It does not look at the clock.
	Verify(purpose, id string, expires time.Time, signature string) bool
}

// HMACSigner is a LinkSigner: HMAC-SHA256 under Key of the purpose, the id
// and the expiry in Unix seconds, hex-encoded.
type HMACSigner struct {
	Key []byte
}

func (h HMACSigner) mac(purpose, id string, expires time.Time) []byte {
	m := hmac.New(sha256.New, h.Key)
	// NUL separates the parts: none of them can contain it, so no two
	// different triples sign the same bytes.
	m.Write([]byte(purpose + "\x00" + id + "\x00" + strconv.FormatInt(expires.Unix(), 10)))
	return m.Sum(nil)
}

// Sign returns the hex HMAC of (purpose, id, expires).
func (h HMACSigner) Sign(purpose, id string, expires time.Time) string {
	return hex.EncodeToString(h.mac(purpose, id, expires))
}

// Verify compares signature with Sign's in constant time.
func (h HMACSigner) Verify(purpose, id string, expires time.Time, signature string) bool {
	got, err := hex.DecodeString(signature)
	return err == nil && hmac.Equal(got, h.mac(purpose, id, expires))
}

// simulatorPurpose names the simulator's links to the signer.
const simulatorPurpose = "payment-simulator"

// SimulatorLinkGrace is how long a simulator link outlives the hold it was
// made for, so that a customer who opens it at the last minute can still
// press a button. A link cannot be made to last longer.
const SimulatorLinkGrace = time.Hour

// SimulatorURL returns the signed link to the simulator page of the
// booking with code, valid until SimulatorLinkGrace after holdEnds (the
// booking's expires_at, or where it will be at the latest). It is the
// redirect URL of the local fake Midtrans and the payment link of emails
// sent before a Snap transaction exists.
func (s *Service) SimulatorURL(code string, holdEnds time.Time) string {
	expires := holdEnds.Add(SimulatorLinkGrace).Truncate(time.Second)
	return strings.TrimRight(s.cfg.AppURL, "/") + "/simulator/" + url.PathEscape(code) + "?" + s.simulatorQuery(code, expires).Encode()
}

func (s *Service) simulatorQuery(code string, expires time.Time) url.Values {
	return url.Values{
		"expires":   {strconv.FormatInt(expires.Unix(), 10)},
		"signature": {s.links.Sign(simulatorPurpose, code, expires)},
	}
}

// checkSimulatorLink checks the expires and signature parameters of a
// simulator link for code: EFORBIDDEN when they are missing, forged or
// out of date.
func (s *Service) checkSimulatorLink(code string, q url.Values) error {
	secs, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || secs <= 0 {
		return apperr.Errorf(apperr.EFORBIDDEN, "This simulator link is not signed; open it from the payment page or the invoice email.")
	}
	expires := time.Unix(secs, 0)
	if !s.links.Verify(simulatorPurpose, code, expires, q.Get("signature")) {
		return apperr.Errorf(apperr.EFORBIDDEN, "This simulator link's signature is invalid.")
	}
	if !s.now().Before(expires) {
		return apperr.Errorf(apperr.EFORBIDDEN, "This simulator link has expired; ask for the payment page again.")
	}
	return nil
}

// SimulatedStatuses are the transaction statuses Simulate accepts.
// "challenge" simulates a card capture held for fraud review.
var SimulatedStatuses = []string{
	midtrans.StatusSettlement, midtrans.StatusCapture, "challenge", midtrans.StatusPending, midtrans.StatusDeny,
	midtrans.StatusCancel, midtrans.StatusExpire, midtrans.StatusFailure, midtrans.StatusRefund, midtrans.StatusPartialRefund,
}

// SimulateAs is Simulate for a logged-in user: only the booking's owner or
// an admin may play Midtrans for it; anyone else gets ENOTFOUND, as for a
// booking that does not exist.
func (s *Service) SimulateAs(ctx context.Context, userID int64, isAdmin bool, orderID, transactionStatus string) (Outcome, error) {
	if !s.cfg.SimulatorEnabled() {
		return "", apperr.Errorf(apperr.ENOTFOUND, "Not found.")
	}
	if !isAdmin {
		b, err := s.db.BookingPaymentGetByCode(ctx, orderID)
		if apperr.IsNotFound(err) || (err == nil && b.UserID != userID) {
			return "", apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id.")
		}
		if err != nil {
			return "", err
		}
	}
	return s.Simulate(ctx, orderID, transactionStatus)
}

// Simulate builds a correctly signed notification for the booking with code
// orderID, as Midtrans would send for transactionStatus, and feeds it
// through the notification handler, without the Status API check (Midtrans
// never saw this transaction change). It answers ENOTFOUND when the
// simulator is disabled, as if it did not exist. It does not authorize:
// callers hold a signed link or use SimulateAs.
func (s *Service) Simulate(ctx context.Context, orderID, transactionStatus string) (Outcome, error) {
	if !s.cfg.SimulatorEnabled() {
		return "", apperr.Errorf(apperr.ENOTFOUND, "Not found.")
	}
	p := midtrans.NotificationParams{OrderID: orderID, TransactionStatus: transactionStatus}
	switch transactionStatus {
	case midtrans.StatusCapture:
		p.FraudStatus = midtrans.FraudAccept
	case "challenge":
		p.TransactionStatus, p.FraudStatus = midtrans.StatusCapture, midtrans.FraudChallenge
	default:
		known := false
		for _, st := range SimulatedStatuses {
			known = known || st == transactionStatus
		}
		if !known {
			return "", apperr.Invalid(map[string]string{"transaction_status": "must be one of settlement, capture, challenge, pending, deny, cancel, expire, failure, refund, partial_refund"})
		}
	}
	if orderID == "" {
		return "", apperr.Invalid(map[string]string{"order_id": "is required"})
	}
	b, err := s.db.BookingPaymentGetByCode(ctx, orderID)
	if apperr.IsNotFound(err) {
		return "", apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id.")
	}
	if err != nil {
		return "", err
	}
	p.GrossAmount = b.TotalAmount
	p.TransactionID = b.TransactionID
	if p.TransactionID == "" {
		p.TransactionID = "sim-" + randomHex(12)
	}
	p.TransactionTime = s.now().In(midtrans.WIB).Format("2006-01-02 15:04:05")
	return s.handle(ctx, Delivery{Body: midtrans.BuildNotification(s.serverKey, p)}, false)
}
