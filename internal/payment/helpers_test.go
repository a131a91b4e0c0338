package payment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

const testServerKey = "SB-Mid-server-payment-test-key"

// fixture is a migrated database, a fake Midtrans and a Service wired to
// both, with the hooks recording what they were called with.
type fixture struct {
	db   *store.DB
	cfg  *config.Config
	fake *midtranstest.Server
	svc  *Service

	mu     sync.Mutex
	late   []LatePayment
	failOn map[int64]bool // bookings whose OnPaidTx fails
}

type fixtureOpt func(vals map[string]string)

func withEnv(k, v string) fixtureOpt { return func(vals map[string]string) { vals[k] = v } }

func newFixture(t testing.TB, d store.Dialect, opts ...fixtureOpt) *fixture {
	t.Helper()
	fake := midtranstest.NewServer(testServerKey)
	t.Cleanup(fake.Close)
	vals := map[string]string{
		"APP_ENV": "testing", "MIDTRANS_SERVER_KEY": testServerKey,
		"MIDTRANS_SNAP_URL": fake.URL, "MIDTRANS_API_URL": fake.URL,
		// Production and staging need one; the others would make their own.
		"APP_KEY": "base64:dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE=",
	}
	for _, o := range opts {
		o(vals)
	}
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	f := &fixture{db: storetest.Open(t, d), cfg: cfg, fake: fake, failOn: map[int64]bool{}}
	_, err = f.db.Exec("CREATE TABLE test_paid_calls (booking_id BIGINT NOT NULL)")
	require.NoError(t, err)
	_, err = f.db.Exec("CREATE TABLE test_late_calls (booking_id BIGINT NOT NULL)")
	require.NoError(t, err)
	client := fake.Client()
	f.svc, err = New(Params{
		DB: f.db, Config: cfg, Client: client,
		OnPaidTx: func(ctx context.Context, tx *sql.Tx, bookingID int64) error {
			// Prove the hook runs inside the payment's transaction: it
			// sees the booking already paid.
			var status string
			if err := tx.QueryRowContext(ctx, f.db.Rebind("SELECT status FROM bookings WHERE id = ?"), bookingID).Scan(&status); err != nil {
				return err
			}
			if status != string(booking.StatusPaid) {
				t.Errorf("OnPaidTx saw booking %d as %s", bookingID, status)
			}
			f.mu.Lock()
			fail := f.failOn[bookingID]
			f.mu.Unlock()
			if fail {
				return errTestHook
			}
			// Recorded in the transaction, like the e-ticket job it stands
			// for: a rolled-back attempt leaves no trace.
			_, err := tx.ExecContext(ctx, f.db.Rebind("INSERT INTO test_paid_calls (booking_id) VALUES (?)"), bookingID)
			return err
		},
		OnLatePaymentTx: func(ctx context.Context, tx *sql.Tx, p LatePayment) error {
			// Runs in the transaction that flags the booking: it sees the
			// flag, and a failure rolls the flag back.
			var flagged bool
			if err := tx.QueryRowContext(ctx, f.db.Rebind("SELECT needs_refund FROM bookings WHERE id = ?"), p.BookingID).Scan(&flagged); err != nil {
				return err
			}
			if !flagged {
				t.Errorf("OnLatePaymentTx saw booking %d not flagged", p.BookingID)
			}
			f.mu.Lock()
			fail := f.failOn[p.BookingID]
			f.mu.Unlock()
			if fail {
				return errTestHook
			}
			_, err := tx.ExecContext(ctx, f.db.Rebind("INSERT INTO test_late_calls (booking_id) VALUES (?)"), p.BookingID)
			return err
		},
		OnLatePayment: func(ctx context.Context, p LatePayment) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.late = append(f.late, p)
		},
	})
	require.NoError(t, err)
	return f
}

type testError string

func (e testError) Error() string { return string(e) }

const errTestHook = testError("hook failed")

// paidCalls counts the committed OnPaidTx calls for a booking.
func (f *fixture) paidCalls(id int64) int {
	var n int
	if err := f.db.QueryRow(f.db.Rebind("SELECT COUNT(*) FROM test_paid_calls WHERE booking_id = ?"), id).Scan(&n); err != nil {
		panic(err)
	}
	return n
}

// lateCalls counts the committed OnLatePaymentTx calls for a booking.
func (f *fixture) lateCalls(id int64) int {
	var n int
	if err := f.db.QueryRow(f.db.Rebind("SELECT COUNT(*) FROM test_late_calls WHERE booking_id = ?"), id).Scan(&n); err != nil {
		panic(err)
	}
	return n
}

func (f *fixture) latePayments() []LatePayment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LatePayment(nil), f.late...)
}

func (f *fixture) insert(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	if f.db.Dialect == store.PgSQL {
		var id int64
		require.NoError(t, f.db.QueryRowContext(ctx, f.db.Rebind(q)+" RETURNING id", args...).Scan(&id))
		return id
	}
	res, err := f.db.ExecContext(ctx, q, args...)
	require.NoError(t, err)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	return id
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *fixture) user(t testing.TB) int64 {
	now := time.Now().UTC()
	return f.insert(t, "INSERT INTO users (name, email, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		"Ayu Lestari", "ayu-"+randHex(4)+"@example.com", "x", now, now)
}

// tour creates a tour departing in a month: late payments may still take
// its seats.
func (f *fixture) tour(t testing.TB, capacity int) int64 {
	return f.tourDeparting(t, capacity, time.Now().AddDate(0, 1, 0).Format(time.DateOnly))
}

// tourDeparting creates a tour departing on date (YYYY-MM-DD).
func (f *fixture) tourDeparting(t testing.TB, capacity int, date string) int64 {
	now := time.Now().UTC()
	return f.insert(t, `INSERT INTO tours (title, destination, description, departure_date, price, capacity, quota, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, "Bromo Sunrise & Madakaripura Waterfall", "Bromo", "", date, 150000, capacity, capacity, now, now)
}

// booking creates a booking of quantity seats in status. Pending and paid
// bookings take their seats from the tour, as the booking service would.
func (f *fixture) booking(t testing.TB, tourID, userID int64, quantity int, status booking.Status, needsRefund bool) (int64, string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	code := "TRP-" + strings.ToUpper(randHex(5))
	if status == booking.StatusPending || status == booking.StatusPaid {
		res, err := f.db.ExecContext(ctx, f.db.Rebind("UPDATE tours SET quota = quota - ? WHERE id = ? AND quota >= ?"), quantity, tourID, quantity)
		require.NoError(t, err)
		n, _ := res.RowsAffected()
		require.EqualValues(t, 1, n, "no seats left for the fixture")
	}
	var paidAt any
	if status == booking.StatusPaid {
		paidAt = now
	}
	id := f.insert(t, `INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status, needs_refund,
		expires_at, paid_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		code, userID, tourID, quantity, 150000, int64(quantity)*150000, status, needsRefund, now.Add(30*time.Minute), paidAt, now, now)
	return id, code
}

type bookingState struct {
	Status      booking.Status
	NeedsRefund bool
	Quota       int
	TxStatus    string
}

func (f *fixture) state(t testing.TB, id int64) bookingState {
	t.Helper()
	var s bookingState
	var tx sql.NullString
	err := f.db.QueryRowContext(context.Background(), f.db.Rebind(`SELECT b.status, b.needs_refund, t.quota, b.transaction_status
		FROM bookings b JOIN tours t ON t.id = b.tour_id WHERE b.id = ?`), id).Scan(&s.Status, &s.NeedsRefund, &s.Quota, &tx)
	require.NoError(t, err)
	s.TxStatus = tx.String
	return s
}

// notify tells the fake Midtrans that the transaction of code is now in
// status (as a payment would) and returns the signed notification it
// sends for it, so that the Status API check agrees with it. The
// transaction's amount is set the first time only, as at Midtrans.
func (f *fixture) notify(code string, amount int64, status, fraud string) []byte {
	f.fake.SetStatus(code, amount, status, fraud)
	body, err := f.fake.Notification(code)
	if err != nil {
		panic(err)
	}
	return body
}

// signed returns a correctly signed notification for a booking code.
func signed(code string, amount int64, status, fraud string) []byte {
	return midtrans.BuildNotification(testServerKey, midtrans.NotificationParams{
		OrderID: code, GrossAmount: amount, TransactionStatus: status, FraudStatus: fraud,
		TransactionID: "tx-" + code, PaymentType: "bank_transfer",
	})
}

// requireInvariant checks the seat invariant of every tour:
// capacity = quota + seats of pending and paid bookings, quota >= 0.
func requireInvariant(t testing.TB, db *store.DB) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT t.id, t.capacity, t.quota,
		COALESCE((SELECT SUM(b.quantity) FROM bookings b WHERE b.tour_id = t.id AND b.status IN ('pending', 'paid')), 0)
		FROM tours t`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id, capacity, quota, held int64
		require.NoError(t, rows.Scan(&id, &capacity, &quota, &held))
		require.GreaterOrEqual(t, quota, int64(0), "tour %d quota", id)
		require.Equal(t, capacity, quota+held, "tour %d: capacity %d, quota %d, held %d", id, capacity, quota, held)
	}
	require.NoError(t, rows.Err())
}

// notificationRows returns the stored notifications of an order.
func notificationRows(t testing.TB, db *store.DB, orderID string) []notificationRecord {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), db.Rebind(`SELECT COALESCE(order_id, ''), signature_valid,
		COALESCE(outcome, ''), payload FROM payment_notifications WHERE order_id = ? ORDER BY id`), orderID)
	require.NoError(t, err)
	defer rows.Close()
	var out []notificationRecord
	for rows.Next() {
		var r notificationRecord
		var outcome, payload string
		require.NoError(t, rows.Scan(&r.OrderID, &r.SignatureValid, &outcome, &payload))
		r.Outcome, r.Payload = Outcome(outcome), []byte(payload)
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// eventFor is eventOf for a status known to be an event, or "" for one
// that is not.
func eventFor(transactionStatus, fraudStatus string) booking.Event {
	ev, _ := eventOf(transactionStatus, fraudStatus)
	return ev
}
