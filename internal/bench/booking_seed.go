package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// SeedResult is what `bench booking --seed-bookings` inserted.
type SeedResult struct {
	Bookings int     `json:"bookings"`
	Pending  int     `json:"pending"`
	Paid     int     `json:"paid"`
	Expired  int     `json:"expired"`
	Seconds  float64 `json:"seconds"`
	// PerSec is the insert rate of the seeding.
	PerSec float64 `json:"per_sec"`
	// FirstPhasePaid are the bookings the measurement before seeding left
	// pending, marked paid before the seed went in (settleFirstPhase).
	FirstPhasePaid int `json:"first_phase_paid"`
}

// seedRowsPerTx rows are committed together, with the seats they hold.
const seedRowsPerTx = 20_000

// seedBookingStatus is the status of the i-th seeded booking: 1% pending
// (held for the expiry window, as a busy day leaves them), 40% paid, the
// rest expired.
func seedBookingStatus(i int) booking.Status {
	switch r := i % 100; {
	case r == 0:
		return booking.StatusPending
	case r <= 40:
		return booking.StatusPaid
	default:
		return booking.StatusExpired
	}
}

// seedBookings inserts n bookings spread over the users and tours, created
// over the past year (the pending ones within the expiry window), with
// multi-row INSERTs in large transactions. Each transaction also takes the
// seats its pending and paid bookings hold from their tours' quota, so the
// invariant capacity = quota + held seats holds at every commit. It checks
// first that the tours have the seats, and fails without writing if not.
func seedBookings(ctx context.Context, db *store.DB, n int, userIDs, tourIDs []int64, loc *time.Location, expiry time.Duration) (*SeedResult, error) {
	if n <= 0 || len(userIDs) == 0 || len(tourIDs) == 0 {
		return nil, fmt.Errorf("bench booking: nothing to seed")
	}
	quantity := func(i int) int { return 1 + i%2 }
	held := make(map[int64]int, len(tourIDs))
	for i := 0; i < n; i++ {
		if s := seedBookingStatus(i); s == booking.StatusPending || s == booking.StatusPaid {
			held[tourIDs[i%len(tourIDs)]] += quantity(i)
		}
	}
	for _, id := range tourIDs {
		var quota int
		if err := db.QueryRowContext(ctx, db.Rebind("SELECT quota FROM tours WHERE id = ?"), id).Scan(&quota); err != nil {
			return nil, fmt.Errorf("bench booking: seed: %w", err)
		}
		if held[id] > quota {
			return nil, fmt.Errorf("bench booking: seed: %d bookings hold %d seats of tour %d, which has %d left: use more --tours", n, held[id], id, quota)
		}
	}

	res := &SeedResult{Bookings: n}
	start := time.Now()
	now := start.UTC().Truncate(time.Microsecond)
	const year = 365 * 24 * time.Hour
	const price = 1_000_000
	departsAfter := now.In(loc).Format(booking.DateLayout)
	// insertRows writes rows [from, to) in one transaction, with the seats
	// they hold.
	insertRows := func(from, to int) error {
		return db.InTx(ctx, func(tx *sql.Tx) error {
			txHeld := make(map[int64]int, len(tourIDs))
			bs := make([]booking.Booking, 0, to-from)
			for i := from; i < to; i++ {
				st := seedBookingStatus(i)
				var created time.Time
				if st == booking.StatusPending {
					// Within the hold, so none is overdue.
					created = now.Add(-time.Duration(i%1000) * expiry / 2000)
				} else {
					// Spread over the past year, oldest first, ending an
					// hour before the hold window.
					created = now.Add(-time.Hour - time.Duration(float64(year)*float64(n-i)/float64(n)))
				}
				created = created.Truncate(time.Microsecond)
				b := booking.Booking{
					Code: booking.NewCode(created, loc), UserID: userIDs[(i/len(tourIDs))%len(userIDs)],
					TourID: tourIDs[i%len(tourIDs)], Quantity: quantity(i), UnitPrice: price, Status: st,
					ExpiresAt: created.Add(expiry), CreatedAt: created, UpdatedAt: created,
				}
				b.TotalAmount = price * int64(b.Quantity)
				switch st {
				case booking.StatusPaid:
					t := created.Add(time.Duration(1+i%25) * time.Minute)
					b.PaidAt, b.UpdatedAt = &t, t
				case booking.StatusExpired:
					t := b.ExpiresAt
					b.ExpiredAt, b.UpdatedAt = &t, t
				}
				if st == booking.StatusPending || st == booking.StatusPaid {
					txHeld[b.TourID] += b.Quantity
				}
				bs = append(bs, b)
			}
			if err := db.BookingInsertManyTx(ctx, tx, bs); err != nil {
				return err
			}
			for _, id := range tourIDs {
				if h := txHeld[id]; h > 0 {
					if _, err := db.TourTakeSeatsTx(ctx, tx, id, h, departsAfter); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	for from := 0; from < n; from += seedRowsPerTx {
		to := min(from+seedRowsPerTx, n)
		var err error
		// Codes are random: a rare duplicate rolls the transaction back,
		// and it is tried again with new codes.
		for attempt := 1; ; attempt++ {
			err = insertRows(from, to)
			if err == nil || apperr.Code(err) != apperr.ECONFLICT || attempt == 5 {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bench booking: seed: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		switch seedBookingStatus(i) {
		case booking.StatusPending:
			res.Pending++
		case booking.StatusPaid:
			res.Paid++
		default:
			res.Expired++
		}
	}
	el := time.Since(start)
	res.Seconds = round2(el.Seconds())
	res.PerSec = round2(float64(n) / el.Seconds())
	// Fresh statistics, as MariaDB's automatic recalculation and
	// PostgreSQL's autovacuum give a table that grew to this size; on
	// PostgreSQL also the vacuum autovacuum would otherwise start in the
	// middle of the measurement, a million new rows being past its
	// insert threshold (a table that grew over a year was vacuumed as it
	// grew).
	// SQLite gathers none unless told, and Tripin never tells it: no
	// ANALYZE there, as in production.
	if err := analyzeBookings(ctx, db); err != nil {
		return nil, err
	}
	// A table that grew over a year has no backlog of unwritten pages:
	// the seeding's is written out before measuring, so that the
	// measurement does not pay for it.
	if err := settleWrites(ctx, db); err != nil {
		return nil, err
	}
	return res, nil
}

// settleFirstPhase marks paid the bookings the measurement before seeding
// left pending, and returns how many. Paid bookings hold their seats as
// pending ones do, so no tour changes. Without it the measurement after
// seeding would start with every customer already holding the first
// phase's pending bookings, tens of thousands of them, which the fair-use
// limit counts at each booking: it would measure a busier table, not a
// larger one. With it both measurements start with no pending booking but
// the seeded ones.
func settleFirstPhase(ctx context.Context, db *store.DB) (int, error) {
	n, err := db.BookingMarkPendingPaid(ctx, time.Now())
	if err != nil {
		return 0, fmt.Errorf("bench booking: settle the first phase's bookings: %w", err)
	}
	return n, nil
}

// analyzeBookings refreshes the planner's statistics of the tables the
// seeding grew.
func analyzeBookings(ctx context.Context, db *store.DB) error {
	var stmts []string
	switch db.Dialect {
	case store.MySQL:
		stmts = []string{"ANALYZE TABLE bookings, tours"}
	case store.PgSQL:
		stmts = []string{"VACUUM (ANALYZE) bookings", "VACUUM (ANALYZE) tours"}
	}
	for _, s := range stmts {
		if db.Dialect == store.PgSQL {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("bench booking: %s: %w", s, err)
			}
			continue
		}
		// ANALYZE TABLE answers with a result set.
		rows, err := db.QueryContext(ctx, s)
		if err != nil {
			return fmt.Errorf("bench booking: %s: %w", s, err)
		}
		for rows.Next() {
		}
		rows.Close()
	}
	return nil
}

// countBookingsByStatus counts the bookings of each status.
func countBookingsByStatus(ctx context.Context, db *store.DB) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, "SELECT status, COUNT(*) FROM bookings GROUP BY status")
	if err != nil {
		return nil, fmt.Errorf("bench booking: count bookings: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var k int
		if err := rows.Scan(&st, &k); err != nil {
			return nil, fmt.Errorf("bench booking: count bookings: %w", err)
		}
		out[st] = k
	}
	return out, rows.Err()
}

// settleWrites writes out what the seeding left to write: SQLite's WAL is
// copied into the database file and truncated; PostgreSQL checkpoints (a
// role without the right to skips it: the server will checkpoint in its
// own time). MariaDB flushes its buffer pool in the background at its own
// pace, with nothing to ask for.
func settleWrites(ctx context.Context, db *store.DB) error {
	switch db.Dialect {
	case store.SQLite:
		var busy, logPages, done int
		if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
			return fmt.Errorf("bench: checkpoint the seed's writes: %w", err)
		}
	case store.PgSQL:
		_, _ = db.ExecContext(ctx, "CHECKPOINT")
	}
	return nil
}
