package cli

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestLatePaymentNotifiesOperators runs `serve` with a Slack webhook and
// walks into a late payment: a booking expires, its seats are sold to
// another booking, then its settlement arrives. The booking is flagged
// needs_refund, the event is in ops_notifications (written in the same
// transaction), and the embedded worker posts it to Slack once.
func TestLatePaymentNotifiesOperators(t *testing.T) {
	slack := newWebhookRecorder(t)
	dsn := storetest.NewDSN(t, store.SQLite)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	base := "http://" + addr
	cfg, err := config.FromMap(map[string]string{
		"APP_ENV": "local", "APP_URL": base, "DB_CONNECTION": "sqlite", "DB_URL": dsn,
		"LOG_FILE": filepath.Join(t.TempDir(), "tripin.log"), "MAIL_MAILER": "log",
		"NOTIFY_SLACK_WEBHOOK_URL": slack.URL + "/services/T/B/x", "NOTIFY_WINDOW": "1",
	})
	require.NoError(t, err)
	newEnv := func() (*Env, *bookingOutBuffer) {
		out := &bookingOutBuffer{}
		return &Env{Stdout: out, Stderr: out, Cfg: cfg}, out
	}
	ctx := context.Background()
	dbEnv, dbOut := newEnv()
	t.Cleanup(dbEnv.closeAll)
	require.NoError(t, Run(ctx, dbEnv, []string{"migrate", "--seed"}), dbOut.String())
	db, err := dbEnv.OpenDB(ctx)
	require.NoError(t, err)
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRowContext(ctx, db.Rebind(query), args...).Scan(&n), query)
		return n
	}

	env, out := newEnv()
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(serveCtx, env, []string{"serve", "--addr", addr}) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop")
		}
		env.closeAll()
	})
	client := &http.Client{Timeout: 30 * time.Second}
	waitServeUp(t, client, base, nil, nil)

	// A tour with two seats, made by the admin.
	api := &flowClient{t: t, c: client, base: base}
	var login struct {
		Token string `json:"token"`
	}
	api.do("POST", "/api/login", map[string]string{"email": demoAdminEmail, "password": demoPassword}, nil, http.StatusOK, &login)
	api.token = login.Token
	var tour struct {
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	api.do("POST", "/api/admin/tours", map[string]any{"title": "Komodo day trip", "destination": "Labuan Bajo",
		"departure_date": time.Now().AddDate(0, 1, 0).Format(time.DateOnly), "price": 750000, "capacity": 2},
		nil, http.StatusCreated, &tour)
	api.do("POST", "/api/login", map[string]string{"email": demoCustomerEmail, "password": demoPassword}, nil, http.StatusOK, &login)
	api.token = login.Token
	type created struct {
		Data struct {
			ID   int64  `json:"id"`
			Code string `json:"code"`
		} `json:"data"`
	}
	var first, second created
	api.do("POST", "/api/bookings", map[string]any{"tour_id": tour.Data.ID, "quantity": 2}, nil, http.StatusCreated, &first)

	// Its hold runs out: the sweep expires it and the seats return, then
	// another booking takes them.
	past := time.Now().Add(-time.Hour).UTC()
	_, err = db.ExecContext(ctx, db.Rebind("UPDATE bookings SET created_at = ?, expires_at = ? WHERE id = ?"), past, past.Add(30*time.Minute), first.Data.ID)
	require.NoError(t, err)
	expEnv, expOut := newEnv()
	t.Cleanup(expEnv.closeAll)
	require.NoError(t, Run(ctx, expEnv, []string{"bookings", "expire"}), expOut.String())
	require.Equal(t, 1, count("SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'expired'", first.Data.ID))
	api.do("POST", "/api/bookings", map[string]any{"tour_id": tour.Data.ID, "quantity": 2}, nil, http.StatusCreated, &second)

	// The first booking's payment arrives late.
	var sim struct {
		Data struct {
			Outcome string `json:"outcome"`
		} `json:"data"`
	}
	api.do("POST", "/api/payments/simulate", map[string]string{"order_id": first.Data.Code, "transaction_status": "settlement"}, nil, http.StatusOK, &sim)
	require.Equal(t, "needs_refund", sim.Data.Outcome)
	require.Equal(t, 1, count("SELECT COUNT(*) FROM bookings WHERE id = ? AND needs_refund = ?", first.Data.ID, true))
	require.Equal(t, 1, count("SELECT COUNT(*) FROM ops_notifications WHERE kind = 'late_payment' AND subject = ?", "late_payment:"+first.Data.Code))

	waitUntil(t, 30*time.Second, "the late payment reaches Slack", func() bool { return len(slack.texts("text")) > 0 })
	msg := slack.texts("text")[0]
	require.Contains(t, msg, first.Data.Code, "the Slack message names the booking:\n%s", msg)
	require.True(t, strings.Contains(strings.ToLower(msg), "refund"), "the Slack message says a refund is needed:\n%s", msg)
	waitUntil(t, 10*time.Second, "the event is marked sent", func() bool {
		return count("SELECT COUNT(*) FROM ops_notifications WHERE kind = 'late_payment' AND sent_at IS NOT NULL") == 1
	})
	require.Len(t, slack.texts("text"), 1, "one message")
	require.Contains(t, out.String(), "refund needed", "serve logs the late payment")
}
