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
	"github.com/tripintravel/tripin/internal/booking"
)

const tourColumns = `id, title, destination, description, departure_date, price, capacity, quota, created_at, updated_at`

func scanTour(r rowScanner) (*booking.Tour, error) {
	var (
		t    booking.Tour
		date any
	)
	if err := r.Scan(&t.ID, &t.Title, &t.Destination, &t.Description, &date, &t.Price, &t.Capacity, &t.Quota,
		&t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	d, err := dateString(date)
	if err != nil {
		return nil, err
	}
	t.DepartureDate = d
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// dateString turns a scanned DATE column into YYYY-MM-DD. Drivers return
// time.Time (MySQL, PostgreSQL, SQLite for well-formed text) or the text.
func dateString(v any) (string, error) {
	switch x := v.(type) {
	case time.Time:
		return x.Format(booking.DateLayout), nil
	case string:
		if len(x) >= 10 {
			return x[:10], nil
		}
	case []byte:
		if len(x) >= 10 {
			return string(x[:10]), nil
		}
	}
	return "", fmt.Errorf("store: unexpected date value %v (%T)", v, v)
}

// TourCreate inserts a tour and sets its ID.
func (db *DB) TourCreate(ctx context.Context, t *booking.Tour) error {
	const q = `INSERT INTO tours (title, destination, description, departure_date, price, capacity, quota, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	id, err := db.insertID(ctx, db.DB, q, t.Title, t.Destination, t.Description, t.DepartureDate,
		t.Price, t.Capacity, t.Quota, t.CreatedAt, t.UpdatedAt)
	if err != nil {
		return fmt.Errorf("store: create tour: %w", err)
	}
	t.ID = id
	return nil
}

// TourGet returns a tour by ID.
func (db *DB) TourGet(ctx context.Context, id int64) (*booking.Tour, error) {
	return db.tourGet(ctx, db.Read, id)
}

func (db *DB) tourGet(ctx context.Context, ex execQuerier, id int64) (*booking.Tour, error) {
	t, err := scanTour(ex.QueryRowContext(ctx, db.Rebind(`SELECT `+tourColumns+` FROM tours WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Tour not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: get tour: %w", err)
	}
	return t, nil
}

// likeEscaper escapes LIKE wildcards with '!', an escape character that
// means the same on every backend (MySQL treats a backslash in a string
// literal as an escape of its own).
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// TourList returns one page of tours matching f, by departure date, and
// how many match in all.
func (db *DB) TourList(ctx context.Context, f booking.TourFilter) ([]*booking.Tour, int, error) {
	var (
		where []string
		args  []any
	)
	if f.Destination != "" {
		where = append(where, `LOWER(destination) LIKE ? ESCAPE '!'`)
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(f.Destination))+"%")
	}
	if f.After != "" {
		where = append(where, `departure_date > ?`)
		args = append(args, f.After)
	}
	if f.From != "" {
		where = append(where, `departure_date >= ?`)
		args = append(args, f.From)
	}
	if f.To != "" {
		where = append(where, `departure_date <= ?`)
		args = append(args, f.To)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := db.Read.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM tours`+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count tours: %w", err)
	}
	q := db.Rebind(`SELECT ` + tourColumns + ` FROM tours` + cond + ` ORDER BY departure_date, id LIMIT ? OFFSET ?`)
	rows, err := db.Read.QueryContext(ctx, q, append(args, f.Page.PerPage, f.Page.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list tours: %w", err)
	}
	defer rows.Close()
	out := []*booking.Tour{}
	for rows.Next() {
		t, err := scanTour(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list tours: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list tours: %w", err)
	}
	return out, total, nil
}

// TourUpdate applies an admin's changes in one transaction. A capacity
// change moves the quota by the same amount in the same conditional
// update, which is refused when the new capacity is below the seats held:
// the invariant capacity = quota + held seats survives concurrent bookings.
func (db *DB) TourUpdate(ctx context.Context, id int64, c booking.TourChanges, now time.Time) (*booking.Tour, error) {
	var out *booking.Tour
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		// The quota assignment comes first: MySQL evaluates SET
		// assignments left to right with the values already assigned.
		set := []string{}
		args := []any{}
		if c.Capacity != nil {
			set = append(set, `quota = quota + (? - capacity)`, `capacity = ?`)
			args = append(args, *c.Capacity, *c.Capacity)
		}
		add := func(col string, v any) {
			set = append(set, col+` = ?`)
			args = append(args, v)
		}
		if c.Title != nil {
			add("title", *c.Title)
		}
		if c.Destination != nil {
			add("destination", *c.Destination)
		}
		if c.Description != nil {
			add("description", *c.Description)
		}
		if c.DepartureDate != nil {
			add("departure_date", *c.DepartureDate)
		}
		if c.Price != nil {
			add("price", *c.Price)
		}
		add("updated_at", now)
		q := `UPDATE tours SET ` + strings.Join(set, ", ") + ` WHERE id = ?`
		args = append(args, id)
		if c.Capacity != nil {
			q += ` AND capacity - quota <= ?`
			args = append(args, *c.Capacity)
		}
		res, err := tx.ExecContext(ctx, db.Rebind(q), args...)
		if err != nil {
			return fmt.Errorf("store: update tour: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: update tour: %w", err)
		}
		t, err := db.tourGet(ctx, tx, id)
		if err != nil {
			return err
		}
		if n == 0 && c.Capacity != nil && t.Capacity-t.Quota > *c.Capacity {
			return apperr.Invalid(map[string]string{
				"capacity": fmt.Sprintf("The capacity may not be below the %d seats already booked.", t.Capacity-t.Quota),
			})
		}
		out = t
		return nil
	})
	return out, err
}

// TourDelete deletes a tour without bookings. The tour's row is locked
// first, so no booking can slip in between the check and the delete
// (booking takes the same row lock with its conditional update).
func (db *DB) TourDelete(ctx context.Context, id int64) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		lock := `SELECT id FROM tours WHERE id = ?`
		if db.Dialect != SQLite {
			lock += ` FOR UPDATE`
		}
		var got int64
		err := tx.QueryRowContext(ctx, db.Rebind(lock), id).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.Errorf(apperr.ENOTFOUND, "Tour not found.")
		}
		if err != nil {
			return fmt.Errorf("store: delete tour: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM bookings WHERE tour_id = ?`), id).Scan(&n); err != nil {
			return fmt.Errorf("store: delete tour: %w", err)
		}
		if n > 0 {
			return apperr.Errorf(apperr.ECONFLICT, "This tour has %d booking(s) and cannot be deleted.", n)
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM tours WHERE id = ?`), id); err != nil {
			return fmt.Errorf("store: delete tour: %w", err)
		}
		return nil
	})
}

// TourTakeSeatsTx takes quantity seats with one conditional update, so two
// requests can never both take the last seat: the database applies the
// updates one at a time on the tour's row and re-checks quota >= quantity
// for each. It returns the tour's price. Only when nothing was updated does
// it read the tour again to tell "sold out" (ESOLDOUT) from "unknown or
// departed" (ENOTFOUND).
func (db *DB) TourTakeSeatsTx(ctx context.Context, tx *sql.Tx, tourID int64, quantity int, departsAfter string) (int64, error) {
	price, _, err := db.takeSeatsTx(ctx, tx, tourID, quantity, departsAfter, anyPrice, false)
	return price, err
}

// TourSeatsGet reads a tour's seats left, price and departure date on the
// read pool, without a lock: the booking service refuses a sold-out or
// departed tour on it without waiting for the tour's row lock.
func (db *DB) TourSeatsGet(ctx context.Context, tourID int64) (*booking.TourSeats, error) {
	t, err := db.tourSeats(db.readQueryRow(ctx, db.Rebind(tourSeatsQuery), tourID))
	if err != nil {
		return nil, fmt.Errorf("store: tour seats: %w", err)
	}
	return t, nil
}

const tourSeatsQuery = `SELECT quota, price, departure_date FROM tours WHERE id = ?`

// tourSeats scans a row of tourSeatsQuery; no row is ENOTFOUND.
func (db *DB) tourSeats(r rowScanner) (*booking.TourSeats, error) {
	var (
		t    booking.TourSeats
		date any
	)
	err := r.Scan(&t.Quota, &t.Price, &date)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Tour not found.")
	}
	if err != nil {
		return nil, err
	}
	if t.DepartureDate, err = dateString(date); err != nil {
		return nil, err
	}
	return &t, nil
}

// sqliteClockMS is SQLite's clock in whole milliseconds since the epoch
// (the precision of its 'now'), the instant DB.Now reads, rounded so that
// the float arithmetic cannot lose a millisecond.
const sqliteClockMS = `CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)`

// anyPrice is the price argument of takeSeatsTx that takes seats at
// whatever the tour costs (prices are never negative).
const anyPrice = -1

// takeSeatsTx is TourTakeSeatsTx that, with a price other than anyPrice,
// takes the seats only while the tour still costs price (a booking priced by an earlier
// read: a changed price fails with ECONFLICT wrapping
// booking.ErrPriceChanged) and, with clock, also returns the database
// clock's time, read in the same transaction: on SQLite in the update's
// own RETURNING, for no extra statement; on MySQL, which has no UPDATE …
// RETURNING, with one SELECT just before the update, so that the tour's
// row lock, held from the update to the commit, is not held any longer
// for it. PostgreSQL reads its clock elsewhere (BookingCreateTx).
func (db *DB) takeSeatsTx(ctx context.Context, tx *sql.Tx, tourID int64, quantity int, departsAfter string, price int64, clock bool) (int64, time.Time, error) {
	upd := `UPDATE tours SET quota = quota - ? WHERE id = ? AND quota >= ? AND departure_date > ?`
	args := []any{quantity, tourID, quantity, departsAfter}
	if price != anyPrice {
		upd += ` AND price = ?`
		args = append(args, price)
	}
	if db.Dialect == MySQL {
		var now time.Time
		if clock {
			var err error
			if now, err = mysqlClockTx(ctx, tx); err != nil {
				return 0, time.Time{}, err
			}
		}
		var res sql.Result
		var err error
		if price != anyPrice {
			res, err = tx.ExecContext(ctx, upd, args...)
		} else {
			// MySQL and MariaDB have no UPDATE … RETURNING. Instead of a
			// second round trip, LAST_INSERT_ID(price) hands the price back
			// in the update's own OK packet (MySQL's documented idiom for
			// returning a value from an UPDATE); price = price leaves the
			// row as it was.
			res, err = tx.ExecContext(ctx, `UPDATE tours SET quota = quota - ?, price = LAST_INSERT_ID(price)
WHERE id = ? AND quota >= ? AND departure_date > ?`, args...)
		}
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("store: take seats: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, time.Time{}, fmt.Errorf("store: take seats: %w", err)
		} else if n == 1 {
			if price != anyPrice {
				return price, now, nil
			}
			if price, err = res.LastInsertId(); err != nil {
				return 0, time.Time{}, fmt.Errorf("store: take seats: %w", err)
			}
			return price, now, nil
		}
	} else {
		var err error
		var ms int64
		if clock {
			err = db.txQueryRow(ctx, tx, upd+` RETURNING price, `+sqliteClockMS, args...).Scan(&price, &ms)
		} else {
			err = db.txQueryRow(ctx, tx, upd+` RETURNING price`, args...).Scan(&price)
		}
		if err == nil && !clock {
			return price, time.Time{}, nil
		}
		if err == nil {
			return price, time.UnixMilli(ms).UTC(), nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, time.Time{}, fmt.Errorf("store: take seats: %w", err)
		}
	}
	return 0, time.Time{}, db.seatsRefused(ctx, tx, tourID, quantity, departsAfter, price)
}

// mysqlClockTx reads MySQL's clock to the microsecond. The DECIMAL is
// parsed as text: a float64 would lose the last digit.
func mysqlClockTx(ctx context.Context, tx *sql.Tx) (time.Time, error) {
	var s string
	if err := tx.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&s); err != nil {
		return time.Time{}, fmt.Errorf("store: database clock: %w", err)
	}
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: database clock %q: %w", s, err)
	}
	frac = (frac + "000000")[:6]
	usec, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: database clock %q: %w", s, err)
	}
	return time.Unix(sec, usec*1000).UTC(), nil
}

// seatsRefused explains why a conditional seat update changed nothing:
// an unknown or departed tour (ENOTFOUND), too few seats (ESOLDOUT) or,
// for an update at a given price (not anyPrice), a changed price (ECONFLICT wrapping
// booking.ErrPriceChanged, which the booking service retries).
func (db *DB) seatsRefused(ctx context.Context, tx *sql.Tx, tourID int64, quantity int, departsAfter string, price int64) error {
	t, err := db.tourSeats(tx.QueryRowContext(ctx, db.Rebind(tourSeatsQuery), tourID))
	if err != nil {
		if apperr.IsNotFound(err) {
			return err
		}
		return fmt.Errorf("store: take seats: %w", err)
	}
	if err := t.Refusal(quantity, departsAfter); err != nil {
		return err
	}
	if price != anyPrice && t.Price != price {
		return &apperr.Error{Code: apperr.ECONFLICT, Message: "The tour's price has changed; please book again.", Err: booking.ErrPriceChanged}
	}
	// Seats came back between the update and this read.
	return booking.SoldOutError(t.Quota)
}

// TourCheckInvariant returns the tours whose capacity differs from their
// quota plus the seats of their pending and paid bookings, or whose quota
// is negative. It is empty when the books balance.
func (db *DB) TourCheckInvariant(ctx context.Context) ([]string, error) {
	const q = `SELECT t.id, t.capacity, t.quota, COALESCE(SUM(b.quantity), 0)
FROM tours t LEFT JOIN bookings b ON b.tour_id = t.id AND b.status IN ('pending', 'paid')
GROUP BY t.id, t.capacity, t.quota`
	rows, err := db.Read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: check invariant: %w", err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var id int64
		var capacity, quota, held int
		if err := rows.Scan(&id, &capacity, &quota, &held); err != nil {
			return nil, fmt.Errorf("store: check invariant: %w", err)
		}
		if capacity != quota+held || quota < 0 {
			bad = append(bad, fmt.Sprintf("tour %d: capacity %d != quota %d + held %d", id, capacity, quota, held))
		}
	}
	return bad, rows.Err()
}

// TourExistsByTitle reports whether a tour with exactly this title exists;
// the seeder uses it to stay idempotent.
func (db *DB) TourExistsByTitle(ctx context.Context, title string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM tours WHERE title = ?`), title).Scan(&n); err != nil {
		return false, fmt.Errorf("store: find tour by title: %w", err)
	}
	return n > 0, nil
}
