package payment

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/store"
)

// This file holds the SQL of the payment package. It works on the bookings,
// tours, users and payment_notifications tables directly; every statement is
// portable and goes through store.Rebind.

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// bookingRow is the part of a booking the payment flow needs.
type bookingRow struct {
	ID          int64
	Code        string
	UserID      int64
	TourID      int64
	Quantity    int64
	UnitPrice   int64
	TotalAmount int64
	Status      string
	NeedsRefund bool
	ExpiresAt   time.Time
	CreatedAt   time.Time
	PaidAt      nullTime
	SnapToken   sql.NullString
	SnapURL     sql.NullString
	SnapClaim   sql.NullString
	SnapClaimAt nullTime
	TxID        sql.NullString
}

const bookingColumns = `b.id, b.code, b.user_id, b.tour_id, b.quantity, b.unit_price, b.total_amount, b.status,
	b.needs_refund, b.expires_at, b.created_at, b.paid_at, b.snap_token, b.snap_redirect_url, b.snap_claim,
	b.snap_claimed_at, b.transaction_id`

func (b *bookingRow) dest() []any {
	return []any{&b.ID, &b.Code, &b.UserID, &b.TourID, &b.Quantity, &b.UnitPrice, &b.TotalAmount, &b.Status,
		&b.NeedsRefund, (*flexTime)(&b.ExpiresAt), (*flexTime)(&b.CreatedAt), &b.PaidAt, &b.SnapToken, &b.SnapURL,
		&b.SnapClaim, &b.SnapClaimAt, &b.TxID}
}

// errNoBooking is returned by the booking lookups; callers turn it into the
// client-facing not-found error.
var errNoBooking = errors.New("payment: booking not found")

// plausibleCode reports whether s can be a booking code at all. Anything
// else is answered as unknown without a query: PostgreSQL refuses NUL in
// text parameters, and bookings.code is at most 32 characters.
func plausibleCode(s string) bool {
	if s == "" || len(s) > 64 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// lockBookingByCode reads the booking with the given code and, on MySQL and
// PostgreSQL, locks its row until tx ends. On SQLite the transaction itself
// holds the database's only write lock (BEGIN IMMEDIATE), which is stronger.
func lockBookingByCode(ctx context.Context, tx *sql.Tx, d store.Dialect, code string) (bookingRow, error) {
	if !plausibleCode(code) {
		return bookingRow{}, errNoBooking
	}
	q := "SELECT " + bookingColumns + " FROM bookings b WHERE b.code = ?"
	if d != store.SQLite {
		q += " FOR UPDATE"
	}
	var b bookingRow
	err := tx.QueryRowContext(ctx, store.Rebind(d, q), code).Scan(b.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return b, errNoBooking
	}
	if err != nil {
		return b, fmt.Errorf("payment: lock booking: %w", err)
	}
	return b, nil
}

// getBooking reads a booking by id without locking.
func getBooking(ctx context.Context, q queryer, d store.Dialect, id int64) (bookingRow, error) {
	var b bookingRow
	err := q.QueryRowContext(ctx, store.Rebind(d, "SELECT "+bookingColumns+" FROM bookings b WHERE b.id = ?"), id).Scan(b.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return b, errNoBooking
	}
	if err != nil {
		return b, fmt.Errorf("payment: get booking: %w", err)
	}
	return b, nil
}

// getBookingByCode reads a booking by its code without locking.
func getBookingByCode(ctx context.Context, q queryer, d store.Dialect, code string) (bookingRow, error) {
	if !plausibleCode(code) {
		return bookingRow{}, errNoBooking
	}
	var b bookingRow
	err := q.QueryRowContext(ctx, store.Rebind(d, "SELECT "+bookingColumns+" FROM bookings b WHERE b.code = ?"), code).Scan(b.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return b, errNoBooking
	}
	if err != nil {
		return b, fmt.Errorf("payment: get booking: %w", err)
	}
	return b, nil
}

// paymentFields are the Midtrans fields recorded on a booking.
type paymentFields struct {
	TransactionID     string
	TransactionStatus string
	FraudStatus       string
	PaymentType       string
}

// bookingChange is one update of a locked booking. Seats is the change to the
// tour's quota: +quantity gives seats back, -quantity takes them.
type bookingChange struct {
	Status      string
	PaidAt      *time.Time
	CancelledAt *time.Time
	ExpiredAt   *time.Time
	FailedAt    *time.Time
	RefundedAt  *time.Time
	NeedsRefund *bool
}

// updateBooking writes a change and the payment fields to a booking.
func updateBooking(ctx context.Context, tx *sql.Tx, d store.Dialect, id int64, c bookingChange, f paymentFields, now time.Time) error {
	sets := []string{"transaction_id = COALESCE(?, transaction_id)", "transaction_status = ?",
		"fraud_status = ?", "payment_type = COALESCE(?, payment_type)", "updated_at = ?"}
	args := []any{nullString(clip(f.TransactionID, 255)), clip(f.TransactionStatus, 32),
		nullString(clip(f.FraudStatus, 32)), nullString(clip(f.PaymentType, 64)), now}
	if c.Status != "" {
		sets = append(sets, "status = ?")
		args = append(args, c.Status)
	}
	for _, t := range []struct {
		col string
		v   *time.Time
	}{{"paid_at", c.PaidAt}, {"cancelled_at", c.CancelledAt}, {"expired_at", c.ExpiredAt}, {"failed_at", c.FailedAt}, {"refunded_at", c.RefundedAt}} {
		if t.v != nil {
			sets = append(sets, t.col+" = ?")
			args = append(args, *t.v)
		}
	}
	if c.NeedsRefund != nil {
		sets = append(sets, "needs_refund = ?")
		args = append(args, *c.NeedsRefund)
	}
	args = append(args, id)
	q := "UPDATE bookings SET " + strings.Join(sets, ", ") + " WHERE id = ?"
	if _, err := tx.ExecContext(ctx, store.Rebind(d, q), args...); err != nil {
		return fmt.Errorf("payment: update booking: %w", err)
	}
	return nil
}

// releaseSeats gives a booking's seats back to its tour.
func releaseSeats(ctx context.Context, tx *sql.Tx, d store.Dialect, tourID, quantity int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, store.Rebind(d, "UPDATE tours SET quota = quota + ?, updated_at = ? WHERE id = ? AND quota + ? <= capacity"),
		quantity, now, tourID, quantity)
	if err != nil {
		return fmt.Errorf("payment: release seats: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// The seat invariant is broken somewhere else; refusing keeps it
		// from getting worse and rolls the transition back.
		return fmt.Errorf("payment: release seats: tour %d would exceed its capacity", tourID)
	}
	return nil
}

// takeSeats takes seats from a tour if enough are left and reports whether
// it did.
func takeSeats(ctx context.Context, tx *sql.Tx, d store.Dialect, tourID, quantity int64, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, store.Rebind(d, "UPDATE tours SET quota = quota - ?, updated_at = ? WHERE id = ? AND quota >= ?"),
		quantity, now, tourID, quantity)
	if err != nil {
		return false, fmt.Errorf("payment: take seats: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("payment: take seats: %w", err)
	}
	return n == 1, nil
}

// notificationRecord is one row of payment_notifications.
type notificationRecord struct {
	OrderID, TransactionID, TransactionStatus, StatusCode, GrossAmount, FraudStatus string
	SignatureValid                                                                  bool
	Outcome                                                                         Outcome
	// Reason says why a notification was rejected or how it was
	// confirmed, for the operator reading the table.
	Reason string
	// Payload is the body as stored: whole, or its first
	// RejectedPayloadBytes for a rejected notification.
	Payload []byte
	// PayloadSHA256 and PayloadBytes describe the whole body as received.
	PayloadSHA256 string
	PayloadBytes  int
	// RemoteIP is the sender's address, when known.
	RemoteIP    string
	ReceivedAt  time.Time
	ProcessedAt *time.Time
}

// insertNotification stores a notification and returns its id.
func insertNotification(ctx context.Context, q queryer, d store.Dialect, r notificationRecord) (int64, error) {
	query := `INSERT INTO payment_notifications (order_id, transaction_id, transaction_status, status_code,
		gross_amount, fraud_status, signature_valid, outcome, payload, received_at, processed_at,
		payload_sha256, payload_bytes, reason, remote_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{nullString(clip(r.OrderID, 255)), nullString(clip(r.TransactionID, 255)),
		nullString(clip(r.TransactionStatus, 64)), nullString(clip(r.StatusCode, 16)),
		nullString(clip(r.GrossAmount, 64)), nullString(clip(r.FraudStatus, 64)), r.SignatureValid,
		string(r.Outcome), sanitize(string(r.Payload)), r.ReceivedAt, nullTimePtr(r.ProcessedAt),
		nullString(r.PayloadSHA256), r.PayloadBytes, nullString(clip(r.Reason, 255)), nullString(clip(r.RemoteIP, 64))}
	if d == store.PgSQL {
		var id int64
		if err := q.QueryRowContext(ctx, store.Rebind(d, query+" RETURNING id"), args...).Scan(&id); err != nil {
			return 0, fmt.Errorf("payment: store notification: %w", err)
		}
		return id, nil
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("payment: store notification: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("payment: store notification: %w", err)
	}
	return id, nil
}

// clip makes s safe for a VARCHAR(n) column on every backend: valid UTF-8,
// no NUL (PostgreSQL refuses it) and at most n characters.
func clip(s string, n int) string {
	s = sanitize(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// sanitize turns arbitrary bytes into text every backend stores.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// flexTime scans a time however the driver delivers it: a time.Time (MySQL
// with parseTime, PostgreSQL, SQLite for DATETIME columns it recognises) or
// text (SQLite when the stored text is in a layout the driver does not parse).
type flexTime time.Time

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02",
}

func (t *flexTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*t = flexTime(v)
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	case int64:
		*t = flexTime(time.Unix(v, 0).UTC())
		return nil
	case nil:
		*t = flexTime(time.Time{})
		return nil
	}
	return fmt.Errorf("payment: cannot scan %T into a time", src)
}

func (t *flexTime) parse(s string) error {
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, s); err == nil {
			*t = flexTime(v)
			return nil
		}
	}
	return fmt.Errorf("payment: cannot parse time %q", s)
}

// nullTime is a nullable flexTime.
type nullTime struct {
	Time  time.Time
	Valid bool
}

func (n *nullTime) Scan(src any) error {
	if src == nil {
		*n = nullTime{}
		return nil
	}
	var ft flexTime
	if err := ft.Scan(src); err != nil {
		return err
	}
	*n = nullTime{Time: time.Time(ft), Valid: true}
	return nil
}

// Value lets a nullTime be written back as a parameter.
func (n nullTime) Value() (driver.Value, error) {
	if !n.Valid {
		return nil, nil
	}
	return n.Time, nil
}
