package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// BookingMailRow is what the invoice and e-ticket emails show of a booking:
// the booking joined with its customer and tour.
type BookingMailRow struct {
	BookingID       int64
	UserID          int64
	Code            string
	Status          string
	CustomerName    string
	CustomerEmail   string
	TourTitle       string
	TourDestination string
	DepartureDate   time.Time
	Quantity        int
	UnitPrice       int64
	TotalAmount     int64
	CreatedAt       time.Time
	ExpiresAt       time.Time
	PaidAt          sql.NullTime
	SnapRedirectURL sql.NullString
}

// BookingMailData loads a booking for its emails. When tx is not nil the
// read happens inside it (a job run inline by the sync queue sees the
// booking its transaction has not committed yet).
func (db *DB) BookingMailData(ctx context.Context, tx *sql.Tx, id int64) (*BookingMailRow, error) {
	q := db.Rebind(`SELECT b.id, b.user_id, b.code, b.status, u.name, u.email, t.title, t.destination, t.departure_date,
  b.quantity, b.unit_price, b.total_amount, b.created_at, b.expires_at, b.paid_at, b.snap_redirect_url
FROM bookings b JOIN users u ON u.id = b.user_id JOIN tours t ON t.id = b.tour_id
WHERE b.id = ?`)
	var row *sql.Row
	if tx != nil {
		row = tx.QueryRowContext(ctx, q, id)
	} else {
		row = db.Read.QueryRowContext(ctx, q, id)
	}
	var r BookingMailRow
	var dep any
	err := row.Scan(&r.BookingID, &r.UserID, &r.Code, &r.Status, &r.CustomerName, &r.CustomerEmail, &r.TourTitle,
		&r.TourDestination, &dep, &r.Quantity, &r.UnitPrice, &r.TotalAmount, &r.CreatedAt, &r.ExpiresAt,
		&r.PaidAt, &r.SnapRedirectURL)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "booking %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: booking mail data: %w", err)
	}
	if r.DepartureDate, err = scanDate(dep); err != nil {
		return nil, fmt.Errorf("store: booking mail data: departure date: %w", err)
	}
	return &r, nil
}

// scanDate reads a DATE column, which the drivers return as time.Time,
// []byte or string depending on the dialect.
func scanDate(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), nil
	case []byte:
		return parseDate(string(x))
	case string:
		return parseDate(x)
	}
	return time.Time{}, fmt.Errorf("unexpected %T", v)
}

func parseDate(s string) (time.Time, error) {
	if len(s) >= 10 {
		s = s[:10]
	}
	return time.Parse("2006-01-02", s)
}
