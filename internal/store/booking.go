package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

// execQuerier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insertID runs an INSERT of portable SQL and returns the new row's id:
// RETURNING on PostgreSQL, LastInsertId elsewhere.
func (db *DB) insertID(ctx context.Context, ex execQuerier, query string, args ...any) (int64, error) {
	if db.Dialect == PgSQL {
		var id int64
		err := ex.QueryRowContext(ctx, db.Rebind(query)+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := ex.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// nullTime converts a scanned nullable timestamp.
func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

const bookingColumns = `id, code, status, user_id, tour_id, quantity, unit_price, total_amount,
  expires_at, paid_at, cancelled_at, expired_at, failed_at, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanBooking(r rowScanner) (*booking.Booking, error) {
	var (
		b                                  booking.Booking
		status                             string
		paid, cancelled, expired, failedAt sql.NullTime
	)
	err := r.Scan(&b.ID, &b.Code, &status, &b.UserID, &b.TourID, &b.Quantity, &b.UnitPrice, &b.TotalAmount,
		&b.ExpiresAt, &paid, &cancelled, &expired, &failedAt, &b.CreatedAt, &b.UpdatedAt)
	if err != nil {
		return nil, err
	}
	b.Status = booking.Status(status)
	b.ExpiresAt, b.CreatedAt, b.UpdatedAt = b.ExpiresAt.UTC(), b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	b.PaidAt, b.CancelledAt, b.ExpiredAt, b.FailedAt = nullTime(paid), nullTime(cancelled), nullTime(expired), nullTime(failedAt)
	return &b, nil
}

// BookingInsertTx inserts a booking and sets its ID. A taken code fails
// with ECONFLICT, so the caller can draw another.
func (db *DB) BookingInsertTx(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
	const q = `INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status,
  expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{b.Code, b.UserID, b.TourID, b.Quantity, b.UnitPrice, b.TotalAmount,
		string(b.Status), b.ExpiresAt, b.CreatedAt, b.UpdatedAt}
	var id int64
	var err error
	if db.Dialect == SQLite {
		var res sql.Result
		if res, err = db.txExec(ctx, tx, q, args...); err == nil {
			id, err = res.LastInsertId()
		}
	} else {
		id, err = db.insertID(ctx, tx, q, args...)
	}
	if err != nil {
		if IsUniqueViolation(err) {
			return &apperr.Error{Code: apperr.ECONFLICT, Message: "Booking code already taken.", Err: err}
		}
		return fmt.Errorf("store: insert booking: %w", err)
	}
	b.ID = id
	return nil
}

// BookingCreateTx inserts the booking at b.UnitPrice and takes its seats,
// setting its ID and its created_at and expires_at (created_at plus hold)
// by the database's clock, as the expiry sweep reads it; then runs in
// between (booking.Store). The seat statement takes the tour's row lock,
// which every booking of the tour queues for until the commit, so it
// comes as late as each backend allows, and takes the seats only at the
// price the booking was made at:
//
//   - PostgreSQL draws the booking's ID from its sequence and reads the
//     clock in one statement, runs then, and ends with one statement (a
//     data-modifying WITH) that takes the seats and inserts the booking.
//     Inserting the booking earlier would not do: its foreign-key check
//     locks the tour's row FOR KEY SHARE, and with every booking of the
//     tour holding that lock while another updates the row, each update
//     has to merge them all into a new MultiXact.
//   - MySQL and MariaDB take the seats first: InnoDB's foreign-key check
//     holds a shared lock on the tour's row until commit, so two bookings
//     inserted before their seat updates would each wait for the other's
//     shared lock to take their exclusive one, a deadlock. The clock is
//     read just before.
//   - SQLite writes one transaction at a time, so the order costs
//     nothing; the seat update returns the clock.
//
// It fails like TourTakeSeatsTx and BookingInsertTx (ESOLDOUT, ENOTFOUND,
// ECONFLICT for a taken code) and with ECONFLICT wrapping
// booking.ErrPriceChanged when the tour no longer costs b.UnitPrice.
func (db *DB) BookingCreateTx(ctx context.Context, tx *sql.Tx, b *booking.Booking, departsAfter string, hold time.Duration, then func() error) error {
	if b.UnitPrice < 0 {
		return fmt.Errorf("store: create booking: negative price %d", b.UnitPrice)
	}
	if db.Dialect != PgSQL {
		_, now, err := db.takeSeatsTx(ctx, tx, b.TourID, b.Quantity, departsAfter, b.UnitPrice, true)
		if err != nil {
			return err
		}
		b.CreatedAt, b.UpdatedAt, b.ExpiresAt = now, now, now.Add(hold).Truncate(time.Microsecond)
		if err := db.BookingInsertTx(ctx, tx, b); err != nil {
			return err
		}
		if then != nil {
			return then()
		}
		return nil
	}
	const next = `SELECT nextval(pg_get_serial_sequence('bookings', 'id')), statement_timestamp(),
  statement_timestamp() + ? * interval '1 microsecond'`
	if err := db.txQueryRow(ctx, tx, db.Rebind(next), hold.Microseconds()).Scan(&b.ID, &b.CreatedAt, &b.ExpiresAt); err != nil {
		return fmt.Errorf("store: create booking: %w", err)
	}
	b.CreatedAt, b.ExpiresAt = b.CreatedAt.UTC(), b.ExpiresAt.UTC()
	b.UpdatedAt = b.CreatedAt
	if then != nil {
		if err := then(); err != nil {
			return err
		}
	}
	const q = `WITH t AS (
  UPDATE tours SET quota = quota - ? WHERE id = ? AND quota >= ? AND departure_date > ?::date AND price = ? RETURNING id
)
INSERT INTO bookings (id, code, user_id, tour_id, quantity, unit_price, total_amount, status, expires_at, created_at, updated_at)
SELECT ?, ?, ?, t.id, ?, ?, ?, ?, ?, ?, ? FROM t
RETURNING id`
	var id int64
	err := db.txQueryRow(ctx, tx, db.Rebind(q), b.Quantity, b.TourID, b.Quantity, departsAfter, b.UnitPrice,
		b.ID, b.Code, b.UserID, b.Quantity, b.UnitPrice, b.TotalAmount, string(b.Status), b.ExpiresAt, b.CreatedAt, b.UpdatedAt,
	).Scan(&id)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		// Nothing was updated, so nothing was inserted: say why.
		return db.seatsRefused(ctx, tx, b.TourID, b.Quantity, departsAfter, b.UnitPrice)
	case IsUniqueViolation(err):
		return &apperr.Error{Code: apperr.ECONFLICT, Message: "Booking code already taken.", Err: err}
	default:
		return fmt.Errorf("store: create booking: %w", err)
	}
}

// BookingGet returns a booking by ID.
func (db *DB) BookingGet(ctx context.Context, id int64) (*booking.Booking, error) {
	return db.bookingGet(ctx, db.Read, id)
}

// BookingGetTx returns a booking by ID inside a transaction.
func (db *DB) BookingGetTx(ctx context.Context, tx *sql.Tx, id int64) (*booking.Booking, error) {
	return db.bookingGet(ctx, tx, id)
}

func (db *DB) bookingGet(ctx context.Context, ex execQuerier, id int64) (*booking.Booking, error) {
	q := db.Rebind(`SELECT ` + bookingColumns + ` FROM bookings WHERE id = ?`)
	b, err := scanBooking(ex.QueryRowContext(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: get booking: %w", err)
	}
	return b, nil
}

// BookingGetByCode returns a booking by its code (the Midtrans order_id).
func (db *DB) BookingGetByCode(ctx context.Context, code string) (*booking.Booking, error) {
	q := db.Rebind(`SELECT ` + bookingColumns + ` FROM bookings WHERE code = ?`)
	b, err := scanBooking(db.Read.QueryRowContext(ctx, q, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: get booking by code: %w", err)
	}
	return b, nil
}

// BookingListByUser returns one page of a user's bookings, newest first,
// and how many there are in all.
func (db *DB) BookingListByUser(ctx context.Context, userID int64, p booking.Page) ([]*booking.Booking, int, error) {
	var total int
	if err := db.Read.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`), userID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count bookings: %w", err)
	}
	q := db.Rebind(`SELECT ` + bookingColumns + ` FROM bookings WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?`)
	rows, err := db.Read.QueryContext(ctx, q, userID, p.PerPage, p.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("store: list bookings: %w", err)
	}
	defer rows.Close()
	out := []*booking.Booking{}
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list bookings: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list bookings: %w", err)
	}
	return out, total, nil
}

// releaseColumns names the timestamp column each release status sets.
var releaseColumns = map[booking.Status]string{
	booking.StatusExpired:   "expired_at",
	booking.StatusCancelled: "cancelled_at",
	booking.StatusFailed:    "failed_at",
}

// BookingReleaseTx moves a pending booking to status and returns its
// seats to the tour. The conditional update (status = 'pending') takes the
// booking's row lock and makes the move happen at most once, however many
// expiry jobs, sweeps and cancellations race for it.
func (db *DB) BookingReleaseTx(ctx context.Context, tx *sql.Tx, id int64, status booking.Status, at time.Time) (bool, error) {
	col, ok := releaseColumns[status]
	if !ok {
		return false, fmt.Errorf("store: release booking %d: bad status %q", id, status)
	}
	res, err := tx.ExecContext(ctx, db.Rebind(`UPDATE bookings SET status = ?, `+col+` = ?, updated_at = ?
WHERE id = ? AND status = 'pending'`), string(status), at, at, id)
	if err != nil {
		return false, fmt.Errorf("store: release booking %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	// The booking row is ours now; read what to give back.
	var tourID int64
	var quantity int
	if err := tx.QueryRowContext(ctx, db.Rebind(`SELECT tour_id, quantity FROM bookings WHERE id = ?`), id).Scan(&tourID, &quantity); err != nil {
		return false, fmt.Errorf("store: release booking %d: %w", id, err)
	}
	if err := db.releaseSeatsTx(ctx, tx, tourID, quantity); err != nil {
		return false, fmt.Errorf("store: release booking %d: %w", id, err)
	}
	return true, nil
}

// releaseSeatsTx gives n seats back to a tour. It is the one statement
// that returns seats, whoever gives them back: a cancellation, an expiry
// (one call per tour for a whole chunk), or a payment denied, cancelled,
// expired or refunded. Its rule: the quota never exceeds the capacity. A
// release that would break it means the seat invariant (capacity = quota +
// seats held) is already broken somewhere else; refusing keeps it from
// getting worse and rolls the caller's transaction back.
func (db *DB) releaseSeatsTx(ctx context.Context, tx *sql.Tx, tourID int64, n int) error {
	res, err := tx.ExecContext(ctx, db.Rebind(`UPDATE tours SET quota = quota + ? WHERE id = ? AND quota + ? <= capacity`),
		n, tourID, n)
	if err != nil {
		return fmt.Errorf("return %d seats to tour %d: %w", n, tourID, err)
	}
	if got, err := res.RowsAffected(); err != nil || got != 1 {
		return fmt.Errorf("return %d seats to tour %d: the tour is missing or would exceed its capacity", n, tourID)
	}
	return nil
}

// retakeSeatsTx takes n seats of a tour back for a booking that had given
// them up (a late payment), if that many are left, and reports whether it
// did.
func (db *DB) retakeSeatsTx(ctx context.Context, tx *sql.Tx, tourID int64, n int) (bool, error) {
	res, err := tx.ExecContext(ctx, db.Rebind(`UPDATE tours SET quota = quota - ? WHERE id = ? AND quota >= ?`), n, tourID, n)
	if err != nil {
		return false, fmt.Errorf("take %d seats of tour %d: %w", n, tourID, err)
	}
	got, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take %d seats of tour %d: %w", n, tourID, err)
	}
	return got == 1, nil
}

// expireBookingsTx moves the given bookings, locked by the caller and
// still pending, to expired, and reports how many it moved. Their seats
// are the caller's to give back.
func (db *DB) expireBookingsTx(ctx context.Context, tx *sql.Tx, ids []int64, at time.Time) (int64, error) {
	args := make([]any, 0, len(ids)+2)
	args = append(args, at, at)
	for _, id := range ids {
		args = append(args, id)
	}
	// The condition is a guard that turns any mistake into a rolled-back
	// transaction. It is written "IS TRUE" so that no planner picks the
	// status index for it (PostgreSQL would, estimating few pending rows,
	// and filter every pending booking on each chunk) instead of the
	// primary key.
	q := `UPDATE bookings SET status = 'expired', expired_at = ?, updated_at = ?
WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) AND (status = 'pending') IS TRUE`
	res, err := tx.ExecContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// paymentColumns are what a PaymentView reads of a booking, after
// bookingColumns.
const paymentColumns = `needs_refund, transaction_id, snap_token, snap_redirect_url, snap_claim, snap_claimed_at`

func scanPaymentView(r rowScanner) (*booking.PaymentView, error) {
	var (
		b                                           booking.Booking
		status                                      string
		paid, cancelled, expired, failedAt, claimAt sql.NullTime
		txID, token, url, claim                     sql.NullString
		v                                           booking.PaymentView
	)
	err := r.Scan(&b.ID, &b.Code, &status, &b.UserID, &b.TourID, &b.Quantity, &b.UnitPrice, &b.TotalAmount,
		&b.ExpiresAt, &paid, &cancelled, &expired, &failedAt, &b.CreatedAt, &b.UpdatedAt,
		&v.NeedsRefund, &txID, &token, &url, &claim, &claimAt)
	if err != nil {
		return nil, err
	}
	b.Status = booking.Status(status)
	b.ExpiresAt, b.CreatedAt, b.UpdatedAt = b.ExpiresAt.UTC(), b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	b.PaidAt, b.CancelledAt, b.ExpiredAt, b.FailedAt = nullTime(paid), nullTime(cancelled), nullTime(expired), nullTime(failedAt)
	v.Booking = b
	v.TransactionID, v.SnapToken, v.SnapRedirectURL, v.SnapClaim = txID.String, token.String, url.String, claim.String
	v.SnapClaimedAt = nullTime(claimAt)
	return &v, nil
}

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

// bookingPaymentView reads a booking with its payment details by id or by
// code. lock takes the booking's row lock (on MySQL and PostgreSQL; on
// SQLite the transaction itself holds the database's only write lock,
// which is stronger).
func (db *DB) bookingPaymentView(ctx context.Context, ex execQuerier, by string, key any, lock bool) (*booking.PaymentView, error) {
	if code, ok := key.(string); ok && !plausibleCode(code) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	q := `SELECT ` + bookingColumns + `, ` + paymentColumns + ` FROM bookings WHERE ` + by + ` = ?`
	if lock && db.Dialect != SQLite {
		q += " FOR UPDATE"
	}
	v, err := scanPaymentView(ex.QueryRowContext(ctx, db.Rebind(q), key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: get booking payment: %w", err)
	}
	return v, nil
}

// TourDepartureTx returns a tour's departure date, YYYY-MM-DD. It takes no
// lock: the date does not change once the tour has bookings that matter
// to a payment, and locking the tour would hold up every booking of it.
func (db *DB) TourDepartureTx(ctx context.Context, tx *sql.Tx, tourID int64) (string, error) {
	var dep any
	err := tx.QueryRowContext(ctx, db.Rebind(`SELECT departure_date FROM tours WHERE id = ?`), tourID).Scan(&dep)
	if err != nil {
		// A booking's tour cannot be missing (a foreign key keeps it): an
		// internal error, not a not-found for the caller to answer.
		return "", fmt.Errorf("store: departure of tour %d: %w", tourID, err)
	}
	d, err := dateString(dep)
	if err != nil {
		return "", fmt.Errorf("store: departure of tour %d: %w", tourID, err)
	}
	return d, nil
}

// BookingPaymentGet returns a booking with its payment details.
func (db *DB) BookingPaymentGet(ctx context.Context, id int64) (*booking.PaymentView, error) {
	return db.bookingPaymentView(ctx, db.Read, "id", id, false)
}

// BookingPaymentGetByCode returns the booking with a code (the Midtrans
// order_id) with its payment details. A code that cannot be one fails
// with ENOTFOUND without a query.
func (db *DB) BookingPaymentGetByCode(ctx context.Context, code string) (*booking.PaymentView, error) {
	return db.bookingPaymentView(ctx, db.Read, "code", code, false)
}

// BookingPaymentLockTx reads the booking with a code with its payment
// details and locks its row until tx ends.
func (db *DB) BookingPaymentLockTx(ctx context.Context, tx *sql.Tx, code string) (*booking.PaymentView, error) {
	return db.bookingPaymentView(ctx, tx, "code", code, true)
}

// stampColumns names the column each stamp of the state table sets.
var stampColumns = map[booking.Stamp]string{
	booking.StampPaid:      "paid_at",
	booking.StampCancelled: "cancelled_at",
	booking.StampExpired:   "expired_at",
	booking.StampFailed:    "failed_at",
	booking.StampRefunded:  "refunded_at",
}

// BookingApplyTx writes a transition of the payment state table to the
// booking b, which tx has locked, with the payment's details. Seats come
// first when the transition takes them: when too few are left, the
// transition's fallback is written instead, and returned. Seats given
// back go through releaseSeatsTx, after the booking's update.
func (db *DB) BookingApplyTx(ctx context.Context, tx *sql.Tx, b *booking.PaymentView, tr booking.Transition, f booking.PaymentFields, at time.Time) (booking.Transition, error) {
	if tr.Seats == booking.SeatsTake {
		took, err := db.retakeSeatsTx(ctx, tx, b.TourID, b.Quantity)
		if err != nil {
			return tr, fmt.Errorf("store: apply to booking %d: %w", b.ID, err)
		}
		if !took {
			if tr.Fallback == nil || tr.Fallback.Seats == booking.SeatsTake {
				return tr, fmt.Errorf("store: apply to booking %d: too few seats and no fallback", b.ID)
			}
			tr = *tr.Fallback
		}
	}
	sets := []string{"transaction_id = COALESCE(?, transaction_id)", "transaction_status = ?",
		"fraud_status = ?", "payment_type = COALESCE(?, payment_type)", "updated_at = ?"}
	args := []any{nullString(clip(f.TransactionID, 255)), clip(f.TransactionStatus, 32),
		nullString(clip(f.FraudStatus, 32)), nullString(clip(f.PaymentType, 64)), at}
	if tr.Status != b.Status {
		sets = append(sets, "status = ?")
		args = append(args, string(tr.Status))
	}
	if tr.Stamp != booking.StampNone {
		col, ok := stampColumns[tr.Stamp]
		if !ok {
			return tr, fmt.Errorf("store: apply to booking %d: unknown stamp %d", b.ID, tr.Stamp)
		}
		sets = append(sets, col+" = ?")
		args = append(args, at)
	}
	switch tr.NeedsRefund {
	case booking.FlagSet:
		sets = append(sets, "needs_refund = ?")
		args = append(args, true)
	case booking.FlagClear:
		sets = append(sets, "needs_refund = ?")
		args = append(args, false)
	}
	args = append(args, b.ID)
	q := "UPDATE bookings SET " + strings.Join(sets, ", ") + " WHERE id = ?"
	if _, err := tx.ExecContext(ctx, db.Rebind(q), args...); err != nil {
		return tr, fmt.Errorf("store: apply to booking %d: %w", b.ID, err)
	}
	if tr.Seats == booking.SeatsRelease {
		if err := db.releaseSeatsTx(ctx, tx, b.TourID, b.Quantity); err != nil {
			return tr, fmt.Errorf("store: apply to booking %d: %w", b.ID, err)
		}
	}
	return tr, nil
}

// BookingSnapClaim takes the right to create a pending booking's Snap
// transaction for claim, and reports whether it did. Only a booking with
// no Snap token and no claim, or with exactly the stale claim prev, can be
// claimed, so two callers cannot both take over one abandoned claim.
func (db *DB) BookingSnapClaim(ctx context.Context, id int64, claim, prev string, now time.Time) (bool, error) {
	q := "UPDATE bookings SET snap_claim = ?, snap_claimed_at = ? WHERE id = ? AND status = 'pending' AND snap_token IS NULL"
	args := []any{claim, now.UTC(), id}
	if prev != "" {
		q += " AND snap_claim = ?"
		args = append(args, prev)
	} else {
		q += " AND snap_claim IS NULL"
	}
	res, err := db.ExecContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return false, fmt.Errorf("store: claim snap: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim snap: %w", err)
	}
	return n == 1, nil
}

// BookingSnapSave stores a booking's Snap token and redirect URL, once,
// and clears the claim that created them.
func (db *DB) BookingSnapSave(ctx context.Context, id int64, token, redirectURL string, now time.Time) error {
	q := `UPDATE bookings SET snap_token = ?, snap_redirect_url = ?, snap_claim = NULL, snap_claimed_at = NULL, updated_at = ?
		WHERE id = ? AND snap_token IS NULL`
	if _, err := db.ExecContext(ctx, db.Rebind(q), clip(token, 255), clip(redirectURL, 1024), now.UTC(), id); err != nil {
		return fmt.Errorf("store: save snap token: %w", err)
	}
	return nil
}

// BookingSnapRelease gives up a claim on creating a booking's Snap
// transaction, if it is still the booking's.
func (db *DB) BookingSnapRelease(ctx context.Context, id int64, claim string) error {
	q := "UPDATE bookings SET snap_claim = NULL, snap_claimed_at = NULL WHERE id = ? AND snap_claim = ?"
	if _, err := db.ExecContext(ctx, db.Rebind(q), id, claim); err != nil {
		return fmt.Errorf("store: release snap claim: %w", err)
	}
	return nil
}

// SnapOrder is a booking that may have a Snap transaction at Midtrans.
type SnapOrder struct {
	BookingID int64
	Code      string
}

// BookingSnapOrdersTx returns, of the given bookings, those that may have a
// Snap transaction: those with a stored Snap token, or a claim on creating
// one (the call to Midtrans may have succeeded without its answer being
// stored).
func (db *DB) BookingSnapOrdersTx(ctx context.Context, tx *sql.Tx, ids []int64) ([]SnapOrder, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, db.Rebind(`SELECT id, code FROM bookings WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)
		AND (snap_token IS NOT NULL OR snap_claim IS NOT NULL)`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: find Snap orders: %w", err)
	}
	defer rows.Close()
	var out []SnapOrder
	for rows.Next() {
		var o SnapOrder
		if err := rows.Scan(&o.BookingID, &o.Code); err != nil {
			return nil, fmt.Errorf("store: find Snap orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: find Snap orders: %w", err)
	}
	return out, nil
}

// clip makes s safe for a VARCHAR(n) column on every backend: valid UTF-8,
// no NUL (PostgreSQL refuses it) and at most n characters.
func clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// GroupCommit reports whether the booking service should commit concurrent
// bookings together: on SQLite, where one connection writes and every
// commit appends its pages to the WAL with its own system calls.
func (db *DB) GroupCommit() bool { return db.Dialect == SQLite }

// SavepointTx runs fn inside a savepoint, rolling back to it when fn
// fails, so that one booking of a group can fail (sold out, say) without
// undoing the others.
func (db *DB) SavepointTx(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := db.txExec(ctx, tx, "SAVEPOINT booking"); err != nil {
		return booking.SavepointFailure(err)
	}
	if err := fn(); err != nil {
		// Some errors (SQLITE_FULL, SQLITE_IOERR) roll the whole
		// transaction back, savepoint included: the rollback then fails,
		// and the cause, kept beside it, decides the answer (503 for a
		// full disk).
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT booking"); rerr != nil {
			return booking.SavepointFailure(errors.Join(err, rerr))
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE SAVEPOINT booking"); rerr != nil {
			return booking.SavepointFailure(errors.Join(err, rerr))
		}
		return err
	}
	if _, err := db.txExec(ctx, tx, "RELEASE SAVEPOINT booking"); err != nil {
		return booking.SavepointFailure(err)
	}
	return nil
}

// txExec runs a statement in tx, prepared once where that pays
// (sqldb.DB.TxExec).
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	return db.DB.TxExec(ctx, tx, query, args...)
}

// txQueryRow runs a one-row query in tx, prepared once where that pays.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	return db.DB.TxQueryRow(ctx, tx, query, args...)
}

// readQueryRow runs a one-row query on the read pool, prepared once where
// that pays.
func (db *DB) readQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.DB.ReadQueryRow(ctx, query, args...)
}

// UserPendingBookingsTx locks the user's row until tx ends and counts the
// user's pending bookings, for BOOKING_MAX_PENDING_PER_USER: two bookings
// of one customer in parallel take the lock in turn, and the second counts
// the first once it has committed (READ COMMITTED on MySQL and
// PostgreSQL). SQLite needs no lock: its transactions begin IMMEDIATE, so
// they write one at a time. The lock comes before the tour's row lock, in
// every booking, so the two never deadlock.
func (db *DB) UserPendingBookingsTx(ctx context.Context, tx *sql.Tx, userID int64) (int, error) {
	if db.Dialect != SQLite {
		var id int64
		err := db.txQueryRow(ctx, tx, "SELECT id FROM users WHERE id = ? FOR UPDATE", userID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, apperr.Errorf(apperr.ENOTFOUND, "User not found.")
		}
		if err != nil {
			return 0, fmt.Errorf("store: lock user: %w", err)
		}
	}
	var n int
	err := db.txQueryRow(ctx, tx, "SELECT COUNT(*) FROM bookings WHERE user_id = ? AND status = 'pending'", userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count pending bookings: %w", err)
	}
	return n, nil
}

// BookingMarkPendingPaid marks every pending booking paid at at and
// returns how many, for settling a load test's bookings before it loads a
// history (bench booking --seed-bookings). Paid bookings hold their seats
// as pending ones do, so no tour changes and the invariant holds. No
// payment path calls it: a real payment goes through BookingApplyTx.
func (db *DB) BookingMarkPendingPaid(ctx context.Context, at time.Time) (int, error) {
	at = at.UTC().Truncate(time.Microsecond)
	r, err := db.ExecContext(ctx, db.Rebind("UPDATE bookings SET status = ?, paid_at = ?, updated_at = ? WHERE status = ?"),
		string(booking.StatusPaid), at, at, string(booking.StatusPending))
	if err != nil {
		return 0, fmt.Errorf("store: mark pending bookings paid: %w", err)
	}
	n, err := r.RowsAffected()
	return int(n), err
}

// BookingInsertManyTx inserts bookings as they are (status and timestamps
// included) with multi-row INSERTs of up to 1,000 rows, for loading a
// history (bench booking --seed-bookings). It takes no seats: the caller
// takes those its pending and paid bookings hold in the same transaction
// (TourTakeSeatsTx), so the invariant holds at commit. IDs are not set.
func (db *DB) BookingInsertManyTx(ctx context.Context, tx *sql.Tx, bs []booking.Booking) error {
	const (
		perInsert = 1000 // 12 placeholders a row: below every dialect's limit
		row       = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	)
	for lo := 0; lo < len(bs); lo += perInsert {
		hi := min(lo+perInsert, len(bs))
		args := make([]any, 0, 12*(hi-lo))
		for i := lo; i < hi; i++ {
			b := &bs[i]
			var paidAt, expiredAt any
			if b.PaidAt != nil {
				paidAt = *b.PaidAt
			}
			if b.ExpiredAt != nil {
				expiredAt = *b.ExpiredAt
			}
			args = append(args, b.Code, b.UserID, b.TourID, b.Quantity, b.UnitPrice, b.TotalAmount, string(b.Status),
				b.ExpiresAt, paidAt, expiredAt, b.CreatedAt, b.UpdatedAt)
		}
		q := `INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status,
  expires_at, paid_at, expired_at, created_at, updated_at) VALUES ` + row + strings.Repeat(", "+row, hi-lo-1)
		if _, err := tx.ExecContext(ctx, db.Rebind(q), args...); err != nil {
			if IsUniqueViolation(err) {
				return &apperr.Error{Code: apperr.ECONFLICT, Message: "Booking code already taken.", Err: err}
			}
			return fmt.Errorf("store: insert bookings: %w", err)
		}
	}
	return nil
}
