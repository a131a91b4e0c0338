package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// DashboardCounts are the figures of the dashboard's bookings panel for one
// period (usually today in APP_TIMEZONE).
type DashboardCounts struct {
	// Created bookings were made in the period; Pending of them are still
	// waiting for payment.
	Created int
	Pending int
	// Paid bookings were paid in the period, for PaidAmount rupiah in all.
	Paid       int
	PaidAmount int64
	// Expired bookings gave their seats back in the period.
	Expired int
	// Cancelled bookings were cancelled by their customer in the period.
	Cancelled int
	// NeedsRefund counts, whatever their age, bookings whose payment came
	// too late to keep their seats and which have not been refunded yet.
	NeedsRefund int
}

// DashboardBookingCounts counts the bookings created, paid, expired and
// cancelled since since, and every booking still waiting for a refund.
// One statement reads them all, so the figures are of one instant.
func (db *DB) DashboardBookingCounts(ctx context.Context, since time.Time) (*DashboardCounts, error) {
	const q = `SELECT
  COALESCE(SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN created_at >= ? AND status = 'pending' THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN paid_at >= ? THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN paid_at >= ? THEN total_amount ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN expired_at >= ? THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN cancelled_at >= ? THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN needs_refund = ? AND status <> 'refunded' THEN 1 ELSE 0 END), 0)
FROM bookings
WHERE created_at >= ? OR paid_at >= ? OR expired_at >= ? OR cancelled_at >= ? OR needs_refund = ?`
	s := since.UTC()
	var c DashboardCounts
	err := db.Read.QueryRowContext(ctx, db.Rebind(q), s, s, s, s, s, s, true, s, s, s, s, true).
		Scan(&c.Created, &c.Pending, &c.Paid, &c.PaidAmount, &c.Expired, &c.Cancelled, &c.NeedsRefund)
	if err != nil {
		return nil, fmt.Errorf("store: dashboard booking counts: %w", err)
	}
	return &c, nil
}

// DashboardBooking is one booking as the dashboard lists it, with its
// customer and tour.
type DashboardBooking struct {
	ID            int64
	Code          string
	Status        string
	Quantity      int
	TotalAmount   int64
	CustomerEmail string
	TourTitle     string
	CreatedAt     time.Time
	PaidAt        *time.Time
	ExpiresAt     time.Time
	NeedsRefund   bool
	// TransactionID is Midtrans's id of the payment, when one arrived.
	TransactionID string
}

const dashboardBookingQuery = `SELECT b.id, b.code, b.status, b.quantity, b.total_amount, u.email, t.title,
  b.created_at, b.paid_at, b.expires_at, b.needs_refund, b.transaction_id
FROM bookings b JOIN users u ON u.id = b.user_id JOIN tours t ON t.id = b.tour_id`

// DashboardBookingsSince returns the latest bookings created since since,
// newest first, at most limit of them.
func (db *DB) DashboardBookingsSince(ctx context.Context, since time.Time, limit int) ([]*DashboardBooking, error) {
	out, err := db.dashboardBookings(ctx, dashboardBookingQuery+` WHERE b.created_at >= ? ORDER BY b.id DESC LIMIT ?`,
		since.UTC(), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("store: dashboard bookings: %w", err)
	}
	return out, nil
}

// DashboardBookingsNeedingRefund returns the bookings flagged for a refund
// and not refunded yet, oldest first (the longest-waiting customer is the
// most urgent), at most limit of them.
func (db *DB) DashboardBookingsNeedingRefund(ctx context.Context, limit int) ([]*DashboardBooking, error) {
	out, err := db.dashboardBookings(ctx, dashboardBookingQuery+` WHERE b.needs_refund = ? AND b.status <> 'refunded' ORDER BY b.id LIMIT ?`,
		true, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("store: dashboard bookings needing refund: %w", err)
	}
	return out, nil
}

func (db *DB) dashboardBookings(ctx context.Context, q string, args ...any) ([]*DashboardBooking, error) {
	rows, err := db.Read.QueryContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*DashboardBooking
	for rows.Next() {
		var (
			b     DashboardBooking
			paid  sql.NullTime
			txnID sql.NullString
		)
		if err := rows.Scan(&b.ID, &b.Code, &b.Status, &b.Quantity, &b.TotalAmount, &b.CustomerEmail, &b.TourTitle,
			&b.CreatedAt, &paid, &b.ExpiresAt, &b.NeedsRefund, &txnID); err != nil {
			return nil, err
		}
		b.CreatedAt, b.ExpiresAt, b.PaidAt, b.TransactionID = b.CreatedAt.UTC(), b.ExpiresAt.UTC(), nullTime(paid), txnID.String
		out = append(out, &b)
	}
	return out, rows.Err()
}

// FailedJobsSince counts the rows of failed_jobs that failed within the
// last age, by the database clock. Retried and forgotten jobs have left
// the table and are not counted.
func (db *DB) FailedJobsSince(ctx context.Context, age time.Duration) (int, error) {
	now, err := db.Now(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: count failed jobs: %w", err)
	}
	// failed_at is a DATETIME text on SQLite, written as the queue driver
	// writes it (UTC, second precision), so the bound must be text of the
	// same shape to compare correctly.
	var cutoff any = now.Add(-age).UTC()
	if db.Dialect == SQLite {
		cutoff = now.Add(-age).UTC().Format(time.DateTime)
	}
	var n int
	if err := db.Read.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM failed_jobs WHERE failed_at >= ?`), cutoff).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count failed jobs: %w", err)
	}
	return n, nil
}

// TokenExpireAt sets when the token with this hash stops authenticating.
// The dashboard gives its session tokens a lifetime this way, so a stolen
// session cookie does not open the dashboard forever.
func (db *DB) TokenExpireAt(ctx context.Context, hash string, at time.Time) error {
	res, err := db.ExecContext(ctx, db.Rebind(`UPDATE personal_access_tokens SET expires_at = ? WHERE token = ?`), at.UTC(), hash)
	if err != nil {
		return fmt.Errorf("store: expire token: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("store: expire token: %w", apperr.Errorf(apperr.ENOTFOUND, "The token does not exist."))
	}
	return nil
}
