package payment

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
)

// FuzzHandleNotification drives the webhook handler on a real SQLite
// database. An input is either a raw body (when raw is not empty) or the
// fields of a notification that is signed with the right key, signed with
// another key, or carries a garbage signature (sign % 3). Whatever arrives,
// the handler answers one of its client errors or succeeds, never an
// internal error; the body is stored; an unverified body changes nothing;
// a verified payment for the right amount pays the booking; and the seat
// invariant holds. The fields are fuzzed separately, rather than one JSON
// blob, so that mutations keep signatures valid and inputs stay small
// enough for the fuzzer to minimise quickly.
func FuzzHandleNotification(f *testing.F) {
	fx := newFixture(f, store.SQLite)
	// Checkpoints at arbitrary moments would look like new coverage that no
	// input reproduces; the WAL of a short fuzz run stays small.
	if _, err := fx.db.Exec("PRAGMA wal_autocheckpoint = 0"); err != nil {
		f.Fatal(err)
	}
	user := fx.user(f)
	tour := fx.tour(f, 1000)
	const code = "TRP-FUZZ01"
	id := fx.insert(f, `INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, 2, 150000, 300000, 'pending', '2030-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`, code, user, tour)

	for _, st := range []string{"settlement", "capture", "pending", "deny", "cancel", "expire", "failure", "refund", "partial_refund"} {
		f.Add(code, midtrans.StatusCodeFor(st, "accept"), "300000.00", st, "accept", uint8(0), []byte(nil))
	}
	f.Add(code, "200", "3000.00", "settlement", "", uint8(0), []byte(nil))
	f.Add(code, "201", "300000.00", "settlement", "", uint8(0), []byte(nil))
	f.Add("TRP-OTHER", "200", "300000.00", "settlement", "", uint8(0), []byte(nil))
	f.Add(code, "200", "300000.00", "settlement", "", uint8(1), []byte(nil))
	f.Add(code, "200", "300000.00", "settlement", "", uint8(2), []byte(nil))
	f.Add("", "", "", "", "", uint8(0), []byte(`{"order_id":1}`))
	f.Add("", "", "", "", "", uint8(0), []byte("\x00\xff{"))

	reset := fx.db.Rebind(`UPDATE bookings SET status = 'pending', needs_refund = ?, paid_at = NULL, transaction_id = NULL,
		transaction_status = NULL, fraud_status = NULL, payment_type = NULL WHERE id = ?`)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, orderID, statusCode, gross, status, fraud string, sign uint8, raw []byte) {
		// Every input starts from the same pending booking and an empty
		// notifications table, so coverage depends on the input alone.
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{reset, []any{false, id}},
			{fx.db.Rebind("UPDATE tours SET quota = capacity - 2 WHERE id = ?"), []any{tour}},
			{"DELETE FROM payment_notifications", nil},
		} {
			if _, err := fx.db.Exec(q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}

		body := raw
		if len(raw) == 0 {
			key := testServerKey
			if sign%3 == 1 {
				key = "SB-Mid-server-someone-else"
			}
			sig := midtrans.Signature(orderID, statusCode, gross, key)
			if sign%3 == 2 {
				sig = "00"
			}
			var err error
			body, err = json.Marshal(map[string]string{
				"order_id": orderID, "status_code": statusCode, "gross_amount": gross,
				"transaction_status": status, "fraud_status": fraud, "signature_key": sig,
			})
			if err != nil {
				t.Fatal(err)
			}
		}

		// Midtrans' Status API, asked before anything changes, agrees
		// with the notification about the booking's transaction.
		if len(raw) == 0 && orderID == code {
			fx.fake.SetStatus(code, 300000, status, fraud)
		}
		out, err := fx.svc.HandleNotification(ctx, body)
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code == apperr.EINTERNAL {
				t.Fatalf("internal error for %q: %v", body, err)
			}
		}
		var stored int
		if err := fx.db.QueryRow("SELECT COUNT(*) FROM payment_notifications").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != 1 {
			t.Fatalf("%d notifications stored, want 1", stored)
		}
		st := fx.state(t, id)
		n, derr := midtrans.DecodeNotification(body)
		verified := derr == nil && midtrans.VerifySignature(n, testServerKey)
		if !verified {
			if out != OutcomeMalformed && out != OutcomeBadSignature {
				t.Fatalf("unverified body got outcome %q", out)
			}
			if st.Status != booking.StatusPending || st.Quota != 998 {
				t.Fatalf("unverified body changed the booking: %+v", st)
			}
		}
		amount, aerr := midtrans.ParseAmount(n.GrossAmount)
		if verified && n.OrderID == code && aerr == nil && amount == 300000 && n.StatusCode == "200" &&
			eventFor(n.TransactionStatus, n.FraudStatus) == booking.EventPaid && len(raw) == 0 {
			if out != OutcomePaid || st.Status != booking.StatusPaid {
				t.Fatalf("a verified payment did not pay: outcome %q, booking %+v", out, st)
			}
		}
		if verified && (aerr != nil || amount != 300000) && st.Status != booking.StatusPending {
			t.Fatalf("a wrong amount changed the booking: %+v", st)
		}
		if verified && !midtrans.StatusCodeFits(n.StatusCode, n.TransactionStatus, n.FraudStatus) && st.Status != booking.StatusPending {
			t.Fatalf("a status_code that does not fit its status changed the booking: %+v", st)
		}
		requireInvariant(t, fx.db)
	})
}
