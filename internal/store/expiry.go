package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// ExpiryCandidate is a pending booking locked for expiry: what the expiry
// sweep needs to expire it and log it.
type ExpiryCandidate struct {
	ID        int64
	Code      string
	TourID    int64
	Quantity  int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ExpiryCursor is where the previous chunk of a sweep ended, in the order
// the sweep walks: creation time, then ID. The zero cursor starts at the
// oldest booking.
type ExpiryCursor struct {
	CreatedAt time.Time
	ID        int64
}

// ExpiryLockDueTx locks up to limit pending bookings created at or before
// createdBefore and after the cursor, oldest first, and returns them. On
// MySQL and PostgreSQL the rows are taken with FOR UPDATE SKIP LOCKED: a
// booking whose row another transaction holds (a payment being recorded this
// very moment) is left for a later sweep instead of making this one wait.
// SQLite has one writer, so the transaction alone keeps the rows as read.
//
// The cursor keeps each chunk's index scan starting where the last one
// ended: without it PostgreSQL would walk the index entries of every
// booking already expired in this sweep (dead until vacuum) on each chunk.
func (db *DB) ExpiryLockDueTx(ctx context.Context, tx *sql.Tx, createdBefore time.Time, after ExpiryCursor, limit int) ([]ExpiryCandidate, error) {
	q := `SELECT id, code, tour_id, quantity, created_at, expires_at FROM bookings
WHERE status = 'pending' AND created_at <= ?`
	args := []any{createdBefore.UTC()}
	if after.ID != 0 {
		q += ` AND created_at >= ? AND (created_at > ? OR id > ?)`
		args = append(args, after.CreatedAt.UTC(), after.CreatedAt.UTC(), after.ID)
	}
	q += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, limit)
	if db.Dialect != SQLite {
		q += " FOR UPDATE SKIP LOCKED"
	}
	rows, err := tx.QueryContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: lock due bookings: %w", err)
	}
	defer rows.Close()
	out := make([]ExpiryCandidate, 0, limit)
	for rows.Next() {
		var c ExpiryCandidate
		if err := rows.Scan(&c.ID, &c.Code, &c.TourID, &c.Quantity, &c.CreatedAt, &c.ExpiresAt); err != nil {
			return nil, fmt.Errorf("store: lock due bookings: %w", err)
		}
		c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: lock due bookings: %w", err)
	}
	return out, nil
}

// ExpiryLockTx locks one booking for expiry, waiting for any transaction
// that holds it, and returns it with its status. Unknown bookings fail with
// ENOTFOUND.
func (db *DB) ExpiryLockTx(ctx context.Context, tx *sql.Tx, id int64) (ExpiryCandidate, string, error) {
	q := `SELECT id, code, tour_id, quantity, created_at, expires_at, status FROM bookings WHERE id = ?`
	if db.Dialect != SQLite {
		q += " FOR UPDATE"
	}
	var (
		c      ExpiryCandidate
		status string
	)
	err := tx.QueryRowContext(ctx, db.Rebind(q), id).Scan(&c.ID, &c.Code, &c.TourID, &c.Quantity, &c.CreatedAt, &c.ExpiresAt, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return c, "", apperr.Errorf(apperr.ENOTFOUND, "Booking %d not found.", id)
	}
	if err != nil {
		return c, "", fmt.Errorf("store: lock booking %d: %w", id, err)
	}
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return c, status, nil
}

// ExpiryExpireTx expires bookings locked by ExpiryLockDueTx or ExpiryLockTx
// in the same transaction and gives their seats back: one update per tour,
// then one conditional update for the bookings (status = 'pending', so a
// booking paid first is never touched). It fails, and the caller's
// transaction must roll back, if any booking was no longer pending.
//
// The tours go first, in ID order, on purpose: InnoDB re-checks the
// bookings→tours foreign key when a booking's status changes (status sits in
// an index with tour_id) and share-locks the tour until commit. Updating the
// booking first and the tour second would upgrade that share lock, and two
// transactions doing so on one tour deadlock. Taking the tours' exclusive
// locks first, in a fixed order, leaves nothing to upgrade.
func (db *DB) ExpiryExpireTx(ctx context.Context, tx *sql.Tx, bookings []ExpiryCandidate, at time.Time) error {
	if len(bookings) == 0 {
		return nil
	}
	at = at.UTC().Truncate(time.Microsecond)
	ids := make([]int64, 0, len(bookings))
	seats := map[int64]int{}
	for _, b := range bookings {
		ids = append(ids, b.ID)
		seats[b.TourID] += b.Quantity
	}
	tours := make([]int64, 0, len(seats))
	for id := range seats {
		tours = append(tours, id)
	}
	slices.Sort(tours)
	for _, id := range tours {
		// The one seat-release statement, once per tour for the chunk.
		if err := db.releaseSeatsTx(ctx, tx, id, seats[id]); err != nil {
			return fmt.Errorf("store: expire bookings: %w", err)
		}
	}
	// The rows are locked, so status is still 'pending'.
	n, err := db.expireBookingsTx(ctx, tx, ids, at)
	if err != nil {
		return fmt.Errorf("store: expire bookings: %w", err)
	}
	if n != int64(len(bookings)) {
		return fmt.Errorf("store: expire bookings: %d of %d locked bookings were still pending", n, len(bookings))
	}
	return nil
}
