package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

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

// BookingCreateTx takes the seats and inserts the booking, setting its ID,
// unit price and total, and its created_at and expires_at (created_at plus
// hold) by the database's clock, as the expiry sweep reads it. On
// PostgreSQL the conditional update and the insert are one statement (a
// data-modifying WITH) that also computes the times, one round trip fewer
// per booking; on SQLite the seat update returns the clock with the price;
// MySQL, which cannot return both from an update, reads its clock with one
// more statement, before it takes the tour's row lock. It fails like TourTakeSeatsTx and BookingInsertTx:
// ESOLDOUT, ENOTFOUND, or ECONFLICT for a taken code.
func (db *DB) BookingCreateTx(ctx context.Context, tx *sql.Tx, b *booking.Booking, departsAfter string, hold time.Duration) error {
	if db.Dialect != PgSQL {
		price, now, err := db.takeSeatsTx(ctx, tx, b.TourID, b.Quantity, departsAfter, true)
		if err != nil {
			return err
		}
		b.UnitPrice, b.TotalAmount = price, price*int64(b.Quantity)
		b.CreatedAt, b.UpdatedAt, b.ExpiresAt = now, now, now.Add(hold).Truncate(time.Microsecond)
		return db.BookingInsertTx(ctx, tx, b)
	}
	const q = `WITH t AS (
  UPDATE tours SET quota = quota - ? WHERE id = ? AND quota >= ? AND departure_date > ?::date RETURNING id, price
), c AS (
  SELECT statement_timestamp() AS now
)
INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status, expires_at, created_at, updated_at)
SELECT ?, ?, t.id, ?, t.price, t.price * ?, ?, c.now + ? * interval '1 microsecond', c.now, c.now FROM t, c
RETURNING id, unit_price, total_amount, created_at, expires_at`
	err := tx.QueryRowContext(ctx, db.Rebind(q), b.Quantity, b.TourID, b.Quantity, departsAfter,
		b.Code, b.UserID, b.Quantity, int64(b.Quantity), string(b.Status), hold.Microseconds(),
	).Scan(&b.ID, &b.UnitPrice, &b.TotalAmount, &b.CreatedAt, &b.ExpiresAt)
	switch {
	case err == nil:
		b.CreatedAt, b.ExpiresAt = b.CreatedAt.UTC(), b.ExpiresAt.UTC()
		b.UpdatedAt = b.CreatedAt
		return nil
	case errors.Is(err, sql.ErrNoRows):
		// Nothing was updated, so nothing was inserted: say why.
		return db.seatsRefused(ctx, tx, b.TourID, departsAfter)
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
// expiry jobs, sweeps, cancellations and payment notifications race for it.
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
	if _, err := tx.ExecContext(ctx, db.Rebind(`UPDATE tours SET quota = quota + ? WHERE id = ?`), quantity, tourID); err != nil {
		return false, fmt.Errorf("store: release booking %d: return seats: %w", id, err)
	}
	return true, nil
}

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

// stmtKey names a statement prepared on one pool.
type stmtKey struct {
	pool  *sql.DB
	query string
}

// preparedStmts caches statements of the booking hot path on SQLite, where
// modernc.org/sqlite parses and plans every unprepared statement again
// (tens of microseconds) and, on the single writer, every other booking
// waits for that. PostgreSQL's pgx caches statements itself and MySQL
// interpolates parameters client-side, so they do without.
var preparedStmts sync.Map // stmtKey → *sql.Stmt, or false while preparing

// cachedStmt returns query prepared on pool, or nil while it is not
// prepared yet. It never prepares inline: on the writer pool that would
// wait for the connection the caller's own transaction holds. Instead the
// first caller starts preparing in the background, which takes the
// connection between two transactions.
func (db *DB) cachedStmt(pool *sql.DB, query string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	k := stmtKey{pool, query}
	if v, ok := preparedStmts.Load(k); ok {
		st, _ := v.(*sql.Stmt)
		return st
	}
	if _, loaded := preparedStmts.LoadOrStore(k, false); !loaded {
		go func() {
			st, err := pool.PrepareContext(context.Background(), query)
			if err != nil {
				preparedStmts.Delete(k)
				return
			}
			preparedStmts.Store(k, st)
		}()
	}
	return nil
}

// txExec runs a statement in tx, prepared once where that pays.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := db.cachedStmt(db.DB, query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.Rebind(query), args...)
}

// txQueryRow runs a one-row query in tx, prepared once where that pays.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := db.cachedStmt(db.DB, query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.Rebind(query), args...)
}

// TxQuery runs a query in tx, prepared once per process on SQLite (as
// txExec does), so that the queue driver's small inserts inside a
// booking's transaction are not parsed and planned again each time. The
// query uses ? placeholders.
func (db *DB) TxQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := db.cachedStmt(db.DB, query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, db.Rebind(query), args...)
}

// readQueryRow runs a one-row query on the read pool, prepared once where
// that pays.
func (db *DB) readQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := db.cachedStmt(db.Read, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.Read.QueryRowContext(ctx, db.Rebind(query), args...)
}
