package store

import (
	"context"
	"fmt"

	"github.com/tripintravel/tripin/internal/booking"
)

// BookingCounts are the booking totals the Prometheus exporter reads at
// scrape time. Bookings are created by the web process and paid or
// expired by workers, so no single process could count them in memory.
type BookingCounts struct {
	// ByStatus is the number of bookings in each status now.
	ByStatus map[booking.Status]int64
	// Created is every booking ever made (bookings are never deleted).
	Created int64
	// Paid counts bookings with paid_at set: paid ones, and paid ones
	// refunded later, so the number never goes down.
	Paid int64
	// Expired counts bookings with expired_at set, for the same reason:
	// a late payment may move an expired booking on, but it stays counted.
	Expired int64
}

// BookingCounts counts bookings by status, and those ever paid and ever
// expired, in one statement over the read pool. It scans the table, so
// callers should cache the result rather than run it per request.
func (db *DB) BookingCounts(ctx context.Context) (*BookingCounts, error) {
	// CASE inside SUM is the portable spelling of a filtered count
	// (PostgreSQL's FILTER and MySQL's boolean sums are not).
	const q = `SELECT status, COUNT(*),
  SUM(CASE WHEN paid_at IS NOT NULL THEN 1 ELSE 0 END),
  SUM(CASE WHEN expired_at IS NOT NULL THEN 1 ELSE 0 END)
FROM bookings GROUP BY status`
	rows, err := db.Read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: count bookings: %w", err)
	}
	defer rows.Close()
	c := &BookingCounts{ByStatus: map[booking.Status]int64{}}
	for rows.Next() {
		var (
			status               string
			n, paid, expiredRows int64
		)
		if err := rows.Scan(&status, &n, &paid, &expiredRows); err != nil {
			return nil, fmt.Errorf("store: count bookings: %w", err)
		}
		c.ByStatus[booking.Status(status)] = n
		c.Created += n
		c.Paid += paid
		c.Expired += expiredRows
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count bookings: %w", err)
	}
	return c, nil
}
