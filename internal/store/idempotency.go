package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

// IdempotencyGet returns the stored answer for a user's idempotency key.
func (db *DB) IdempotencyGet(ctx context.Context, userID int64, key string) (*booking.IdempotencyRecord, error) {
	const q = `SELECT user_id, idem_key, request_hash, status_code, response_body, COALESCE(booking_id, 0), created_at
FROM idempotency_keys WHERE user_id = ? AND idem_key = ?`
	var (
		r    booking.IdempotencyRecord
		body string
	)
	err := db.Read.QueryRowContext(ctx, db.Rebind(q), userID, key).Scan(&r.UserID, &r.Key, &r.RequestHash,
		&r.StatusCode, &body, &r.BookingID, &r.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Idempotency key not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: get idempotency key: %w", err)
	}
	r.Body = []byte(body)
	r.RequestHash = strings.TrimRight(r.RequestHash, " ") // CHAR(64) pads on PostgreSQL
	return &r, nil
}

// IdempotencyInsertTx stores the first answer for a key. A key stored
// already (by a concurrent request that committed first) fails with
// ECONFLICT; on MySQL and PostgreSQL the insert waits for that request's
// transaction, so the caller rolls back and replays its answer.
func (db *DB) IdempotencyInsertTx(ctx context.Context, tx *sql.Tx, r *booking.IdempotencyRecord) error {
	const q = `INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status_code, response_body, booking_id, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	var bookingID any
	if r.BookingID != 0 {
		bookingID = r.BookingID
	}
	_, err := tx.ExecContext(ctx, db.Rebind(q), r.UserID, r.Key, r.RequestHash, r.StatusCode, string(r.Body), bookingID, r.CreatedAt)
	if err != nil {
		if IsUniqueViolation(err) {
			return &apperr.Error{Code: apperr.ECONFLICT, Message: "Idempotency key already used.", Err: err}
		}
		return fmt.Errorf("store: store idempotency key: %w", err)
	}
	return nil
}

// Compile-time checks that DB implements the booking package's storage.
var (
	_ booking.Store     = (*DB)(nil)
	_ booking.UserStore = (*DB)(nil)
)
