package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// The dashboard's booking search and a booking's own page. Every lookup
// walks a unique index: bookings.code for a code, users.email (then
// bookings_user) for a customer's address.

// DashboardSearchMaxUsers bounds the customers an email prefix may match;
// a prefix matching more asks the operator to type more of the address.
const DashboardSearchMaxUsers = 200

// DashboardSearch is one page of a booking search. Exactly one of
// CodePrefix and EmailPrefix is set.
type DashboardSearch struct {
	// CodePrefix matches codes that start with it (a whole code matches
	// itself). Results come by code, newest day first; After is the last
	// code of the previous page.
	CodePrefix string
	// EmailPrefix matches customers whose (lower-case) email starts with
	// it. Results come newest booking first; After is the last booking id
	// of the previous page.
	EmailPrefix string
	After       string
	Limit       int
}

// ErrTooManyCustomers is returned when an email prefix matches more than
// DashboardSearchMaxUsers customers.
var ErrTooManyCustomers = errors.New("store: the email prefix matches too many customers")

// highest is the largest code point: every string that starts with a
// prefix sorts before prefix+highest in SQLite's BINARY collation.
const highest = "\U0010FFFF"

// prefixWhere is the condition on col for values starting with prefix,
// written so that each database reads it from an index. MySQL narrows
// its index by a LIKE's fixed prefix itself. PostgreSQL does so on the
// text_pattern_ops indexes of migration 0015 when the pattern is a plain
// parameter with the default (backslash) escape. SQLite's LIKE is
// case-insensitive and skips its BINARY indexes, so there a range on the
// index narrows and the LIKE (with '!' escapes) only checks.
func (db *DB) prefixWhere(col, prefix string) (string, []any) {
	switch db.Dialect {
	case MySQL:
		return col + " LIKE ? ESCAPE '!'", []any{likeEscaper.Replace(prefix) + "%"}
	case PgSQL:
		return col + " LIKE ?", []any{pgLikeEscaper.Replace(prefix) + "%"}
	}
	return col + " >= ? AND " + col + " < ? AND " + col + " LIKE ? ESCAPE '!'", []any{prefix, prefix + highest, likeEscaper.Replace(prefix) + "%"}
}

// pgLikeEscaper escapes LIKE wildcards with PostgreSQL's default escape.
var pgLikeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// DashboardBookingSearch returns one page of the bookings s matches, and
// whether more follow. See DashboardSearch for the order.
func (db *DB) DashboardBookingSearch(ctx context.Context, s DashboardSearch) ([]*DashboardBooking, bool, error) {
	limit := max(s.Limit, 1)
	var (
		q    string
		args []any
	)
	switch {
	case s.CodePrefix != "":
		where, a := db.prefixWhere("b.code", s.CodePrefix)
		q, args = dashboardBookingQuery+" WHERE "+where, a
		if s.After != "" {
			q += " AND b.code < ?"
			args = append(args, s.After)
		}
		q += " ORDER BY b.code DESC LIMIT ?"
	case s.EmailPrefix != "":
		where, a := db.prefixWhere("email", s.EmailPrefix)
		ids, err := db.userIDs(ctx, "SELECT id FROM users WHERE "+where+" ORDER BY email LIMIT ?", append(a, DashboardSearchMaxUsers+1)...)
		if err != nil {
			return nil, false, fmt.Errorf("store: dashboard booking search: %w", err)
		}
		if len(ids) > DashboardSearchMaxUsers {
			return nil, false, ErrTooManyCustomers
		}
		if len(ids) == 0 {
			return nil, false, nil
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		q = dashboardBookingQuery + " WHERE b.user_id IN (" + marks + ")"
		args = ids
		if s.After != "" {
			after, err := strconv.ParseInt(s.After, 10, 64)
			if err != nil {
				return nil, false, apperr.Errorf(apperr.EINVALID, "The page cursor is not a booking id.")
			}
			q += " AND b.id < ?"
			args = append(args, after)
		}
		q += " ORDER BY b.id DESC LIMIT ?"
	default:
		return nil, false, apperr.Errorf(apperr.EINVALID, "Search by a booking code or an email address.")
	}
	out, err := db.dashboardBookings(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("store: dashboard booking search: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

func (db *DB) userIDs(ctx context.Context, q string, args ...any) ([]any, error) {
	rows, err := db.Read.QueryContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// DashboardBookingDetail is a booking as its dashboard page shows it.
type DashboardBookingDetail struct {
	DashboardBooking
	UserID        int64
	CustomerName  string
	TourID        int64
	DepartureDate string
	CancelledAt   *time.Time
	ExpiredAt     *time.Time
	FailedAt      *time.Time
	RefundedAt    *time.Time
	PaymentType   string
	// TransactionStatus is Midtrans's last status of the payment.
	TransactionStatus string
}

// DashboardBookingByCode returns the booking with code, with its customer
// and tour; apperr ENOTFOUND when there is none.
func (db *DB) DashboardBookingByCode(ctx context.Context, code string) (*DashboardBookingDetail, error) {
	const q = `SELECT b.id, b.code, b.status, b.quantity, b.total_amount, u.email, t.title,
  b.created_at, b.paid_at, b.expires_at, b.needs_refund, b.transaction_id,
  b.user_id, u.name, b.tour_id, t.departure_date, b.cancelled_at, b.expired_at, b.failed_at, b.refunded_at,
  b.payment_type, b.transaction_status
FROM bookings b JOIN users u ON u.id = b.user_id JOIN tours t ON t.id = b.tour_id
WHERE b.code = ?`
	var (
		d                                 DashboardBookingDetail
		paid, cancelled, expired, failed  sql.NullTime
		refunded                          sql.NullTime
		txnID, payType, txnStatus, depart sql.NullString
	)
	err := db.Read.QueryRowContext(ctx, db.Rebind(q), code).Scan(&d.ID, &d.Code, &d.Status, &d.Quantity, &d.TotalAmount,
		&d.CustomerEmail, &d.TourTitle, &d.CreatedAt, &paid, &d.ExpiresAt, &d.NeedsRefund, &txnID,
		&d.UserID, &d.CustomerName, &d.TourID, &depart, &cancelled, &expired, &failed, &refunded, &payType, &txnStatus)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: dashboard booking %s: %w", code, err)
	}
	d.CreatedAt, d.ExpiresAt = d.CreatedAt.UTC(), d.ExpiresAt.UTC()
	d.PaidAt, d.CancelledAt, d.ExpiredAt, d.FailedAt, d.RefundedAt = nullTime(paid), nullTime(cancelled), nullTime(expired), nullTime(failed), nullTime(refunded)
	d.TransactionID, d.PaymentType, d.TransactionStatus = txnID.String, payType.String, txnStatus.String
	d.DepartureDate = depart.String
	if len(d.DepartureDate) > 10 {
		d.DepartureDate = d.DepartureDate[:10]
	}
	return &d, nil
}
