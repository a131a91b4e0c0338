package payment

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/store"
)

// This file holds the SQL of the payment package: the
// payment_notifications table, which is payment's own. Bookings and tours
// are read and written through the store's booking repository and the
// booking service.

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
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
