package dashboard_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/expiry"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinredis"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

// TestActingOnRedisQueue: with the queue on Redis (TRIPIN_TEST_REDIS_URL,
// under a prefix of its own), a booking's page and the recent jobs find
// its jobs held in Redis, and a batch (kept in SQL) is cancelled.
func TestActingOnRedisQueue(t *testing.T) {
	rawURL := os.Getenv("TRIPIN_TEST_REDIS_URL")
	if rawURL == "" {
		t.Skip("TRIPIN_TEST_REDIS_URL is not set")
	}
	opts, err := redis.ParseURL(rawURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "tripin:test:dash:" + hex.EncodeToString(b) + ":"
	ctx := context.Background()
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})

	h := newHarness(t, store.SQLite)
	rd, err := tripinredis.New(rdb, tripinredis.Options{Prefix: prefix, DB: h.db.DB, SQL: tripinsqlite.New(h.db.DB, tripinsqlite.Options{})})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd.Close() })
	h.adm = rd
	h.dash = dashboard.New(dashboard.Params{DB: h.db, Admin: rd, Driver: rd, Accounts: h.accounts, DefaultMaxAttempts: 3})
	client, err := queue.NewClient(rd, &queue.Config{Connection: "redis"})
	require.NoError(t, err)
	c := h.session(h.admin)

	f := newBookingFixture(h)
	bk := f.book(h.customer, "TRP-20261207-REDIS2")
	_, err = client.Insert(ctx, mail.SendInvoiceEmail{BookingID: bk.ID}, &queue.InsertOpts{Queue: "emails", Tags: bk.JobTags()})
	require.NoError(t, err)
	_, err = client.Insert(ctx, expiry.ExpireBooking{BookingID: bk.ID}, &queue.InsertOpts{RunAt: bk.ExpiresAt, Tags: bk.JobTags()})
	require.NoError(t, err)
	_, err = client.Insert(ctx, mail.SendInvoiceEmail{BookingID: bk.ID + 1}, &queue.InsertOpts{Queue: "emails", Tags: []string{"booking:999999"}})
	require.NoError(t, err)

	// The jobs, as the driver itself finds them in Redis.
	found, err := rd.JobSearch(ctx, &driver.JobSearchParams{Tag: booking.JobTag(bk.ID)})
	require.NoError(t, err)
	require.Len(t, found.Entries, 2)
	uuids := map[string]string{}
	for _, e := range found.Entries {
		uuids[queue.PayloadJobName(e.Payload)] = e.UUID
	}
	inv, exp := uuids["SendInvoiceEmail"], uuids["ExpireBooking"]
	require.NotEmpty(t, inv)
	require.NotEmpty(t, exp)

	w := h.do("GET", "/admin/recent?"+url.Values{"tag": {bk.Code}}.Encode(), nil, c)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, map[string]string{inv: "pending", exp: "delayed"}, listed(w.Body.String()))

	w = h.do("GET", "/admin/bookings/"+bk.Code, nil, c)
	require.Equal(t, http.StatusOK, w.Code)
	keys, steps := timeline(w.Body.String())
	require.Equal(t, []string{"created", "invoice"}, keys)
	require.Contains(t, steps["invoice"], inv)
	require.Contains(t, steps["created"], exp)

	_, err = rd.BatchCreate(ctx, &driver.BatchCreateParams{ID: "redis-batch", Name: "tickets", TotalJobs: 2})
	require.NoError(t, err)
	w = h.do("POST", "/admin/batches/redis-batch/cancel", url.Values{"_csrf": {h.csrf(c)}}, c)
	require.Equal(t, http.StatusSeeOther, w.Code)
	bt, err := rd.BatchGet(ctx, "redis-batch")
	require.NoError(t, err)
	require.True(t, bt.Cancelled())
	require.WithinDuration(t, time.Now(), *bt.CancelledAt, time.Hour)
}
