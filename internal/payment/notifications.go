package payment

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// StoredNotification is one row of payment_notifications, as an
// operator reads it: what Midtrans said about an order and what Tripin
// did with it.
type StoredNotification struct {
	ID                int64
	OrderID           string
	TransactionID     string
	TransactionStatus string
	StatusCode        string
	GrossAmount       string
	FraudStatus       string
	SignatureValid    bool
	Outcome           Outcome
	Reason            string
	ReceivedAt        time.Time
	ProcessedAt       *time.Time
}

// NotificationsForOrder returns the stored notifications of one order
// (a booking's code), oldest first: the newest limit of them; it reads
// the payment_notifications_order index.
func NotificationsForOrder(ctx context.Context, db *store.DB, orderID string, limit int) ([]*StoredNotification, error) {
	rows, err := db.Read.QueryContext(ctx, db.Rebind(`SELECT id, order_id, transaction_id, transaction_status, status_code,
  gross_amount, fraud_status, signature_valid, outcome, reason, received_at, processed_at
FROM payment_notifications WHERE order_id = ? ORDER BY id DESC LIMIT ?`), orderID, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("payment: list notifications of %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []*StoredNotification
	for rows.Next() {
		var (
			n                                               StoredNotification
			order, txn, status, code, gross, fraud, outcome sql.NullString
			reason                                          sql.NullString
			processed                                       sql.NullTime
		)
		if err := rows.Scan(&n.ID, &order, &txn, &status, &code, &gross, &fraud, &n.SignatureValid, &outcome, &reason,
			&n.ReceivedAt, &processed); err != nil {
			return nil, fmt.Errorf("payment: list notifications of %s: %w", orderID, err)
		}
		n.OrderID, n.TransactionID, n.TransactionStatus, n.StatusCode = order.String, txn.String, status.String, code.String
		n.GrossAmount, n.FraudStatus, n.Outcome, n.Reason = gross.String, fraud.String, Outcome(outcome.String), reason.String
		n.ReceivedAt = n.ReceivedAt.UTC()
		if processed.Valid {
			t := processed.Time.UTC()
			n.ProcessedAt = &t
		}
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payment: list notifications of %s: %w", orderID, err)
	}
	slices.Reverse(out)
	return out, nil
}
