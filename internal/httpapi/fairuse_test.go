package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// newFairUseAPI is newAPI with the fair-use limits of cfg, as serve wires
// them.
func newFairUseAPI(t *testing.T, d store.Dialect, vals map[string]string) *api {
	t.Helper()
	return newFairUseAPIMount(t, d, vals, nil)
}

// newFairUseAPIMount is newFairUseAPI with the routes of mount as well.
func newFairUseAPIMount(t *testing.T, d store.Dialect, vals map[string]string, mount func(*http.ServeMux, *httpapi.Server)) *api {
	t.Helper()
	vals["APP_ENV"], vals["LOG_FILE"] = "testing", ""
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	db := storetest.Open(t, d)
	svc := booking.NewService(booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(), MaxQuantity: cfg.BookingMaxQuantity,
		MaxPendingPerUser: cfg.BookingMaxPendingPerUser, RateLimit: cfg.BookingRateLimit,
		Limiter: dbdriver.NewAdmin(db.DB),
	})
	acc := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost})
	srv := httpapi.New(httpapi.Params{Config: cfg, DB: db, Bookings: svc, Accounts: acc, Logger: slog.New(slog.DiscardHandler), Mount: mount})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, url: ts.URL, db: db, svc: svc, acc: acc, logs: &syncBuffer{}, client: &http.Client{Transport: tr}, loc: cfg.AppTimezone}
}

// TestBookingFairUseHTTP: over BOOKING_MAX_PENDING_PER_USER the API
// answers 429 too_many_pending, over BOOKING_MAX_QUANTITY 422, over
// BOOKING_RATE_LIMIT 429 rate_limited with Retry-After; each refusal takes
// no seat and no booking, on every backend, under parallel requests.
func TestBookingFairUseHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newFairUseAPI(t, d, map[string]string{
			"BOOKING_MAX_PENDING_PER_USER": "3", "BOOKING_MAX_QUANTITY": "4", "BOOKING_RATE_LIMIT": "0",
		})
		_, tok := a.user("greedy@example.com", false)
		tour := a.tour("Komodo", "Flores", 10, 100)

		res := a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 5})
		require.Equal(t, 422, res.Status, string(res.Raw))
		require.Contains(t, res.fields()["quantity"], "between 1 and 4")
		require.Equal(t, 100, a.quota(tour.ID))

		statuses := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
				if r.Status == 429 {
					if r.errCode() != "too_many_pending" {
						t.Errorf("429 with code %q", r.errCode())
					}
				}
			}()
		}
		wg.Wait()
		require.Equal(t, map[int]int{201: 3, 429: 17}, statuses)
		require.Equal(t, 97, a.quota(tour.ID))
		require.Equal(t, 3, a.countBookings())
		a.requireInvariant()
	})
}

func TestBookingRateLimitHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newFairUseAPI(t, d, map[string]string{"BOOKING_MAX_PENDING_PER_USER": "0", "BOOKING_RATE_LIMIT": "2"})
		_, tok := a.user("fast@example.com", false)
		tour := a.tour("Komodo", "Flores", 10, 100)
		var last response
		created := 0
		for i := 0; i < 6; i++ {
			last = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
			if last.Status == 201 {
				created++
			}
		}
		// Two a minute; a window that turns during the loop lets two more.
		require.GreaterOrEqual(t, created, 2)
		require.LessOrEqual(t, created, 4)
		require.Equal(t, 429, last.Status, string(last.Raw))
		require.Equal(t, "rate_limited", last.errCode())
		secs, err := strconv.Atoi(last.Header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", last.Header.Get("Retry-After"))
		require.True(t, secs >= 1 && secs <= 60, "Retry-After %d", secs)
		require.Equal(t, 100-created, a.quota(tour.ID))
		require.Equal(t, created, a.countBookings())
	})
}
