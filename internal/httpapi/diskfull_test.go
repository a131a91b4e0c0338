package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
)

// TestBookingOnFullDisk caps the SQLite database at the pages it has (as a
// full disk would), so that the next booking's write fails with
// SQLITE_FULL: the API must answer 503 "database disk is full" with a
// Retry-After, store nothing of the booking, and book again once the cap
// is lifted. `tripin bench faults` runs the same on a real full tmpfs.
func TestBookingOnFullDisk(t *testing.T) {
	a := newAPI(t, store.SQLite, nil)
	_, tok := a.user("owner@example.com", false)
	tour := a.tour("Lombok Gili", "Lombok", 7, 50)
	res := a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
	require.Equal(t, 201, res.Status, string(res.Raw))

	ctx := context.Background()
	// Writes go through one connection: the cap holds for every write.
	var pages int
	require.NoError(t, a.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages))
	_, err := a.db.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	require.NoError(t, err)
	full := 0
	for range 200 {
		res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
		if res.Status != 201 {
			full++
			break
		}
	}
	require.Equal(t, 1, full, "200 bookings fitted in the capped database")
	require.Equal(t, 503, res.Status, "%s\n%s", res.Raw, a.logs.String())
	require.Equal(t, "unavailable", res.errCode())
	e, _ := res.Body["error"].(map[string]any)
	require.Equal(t, httpapi.DiskFullMessage, e["message"])
	require.Equal(t, "30", res.Header.Get("Retry-After"))
	booked := a.countBookings()
	require.Equal(t, 50-booked, a.quota(tour.ID), "seats taken by exactly the stored bookings")
	a.requireInvariant()

	_, err = a.db.ExecContext(ctx, "PRAGMA max_page_count = 1073741823")
	require.NoError(t, err)
	res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
	require.Equal(t, 201, res.Status, string(res.Raw))
	require.Equal(t, booked+1, a.countBookings())
	a.requireInvariant()
}
