package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// flowExpiryMinutes is the booking hold in the end-to-end test (the
// default). Pay refuses a booking with less than a minute of hold left, so
// the hold cannot be short enough for the booking's ExpireBooking job to
// come due during the test: that job stays in the jobs table, delayed.
const flowExpiryMinutes = 30

// TestBookingFlowEndToEnd runs `serve` in-process on every backend, with
// its embedded worker and scheduler, a real SMTP server and the local fake
// Midtrans, and walks a customer through the whole flow over HTTP: log in,
// book, receive the invoice, pay through the simulator, receive the
// e-ticket once, open the ticket; then stops serve gracefully.
func TestBookingFlowEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		runBookingFlow(t, d)
	})
}

func runBookingFlow(t *testing.T, d store.Dialect) {
	started := time.Now()
	smtpd := mailtest.Start(t, mailtest.Options{})
	dsn := storetest.NewDSN(t, d)
	dir := t.TempDir()
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	base := "http://" + addr

	vals := map[string]string{
		"APP_ENV": "local", "APP_URL": base,
		"DB_CONNECTION": string(d), "DB_URL": dsn,
		"LOG_FILE":               filepath.Join(dir, "tripin.log"),
		"BOOKING_EXPIRY_MINUTES": strconv.Itoa(flowExpiryMinutes),
	}
	for k, v := range smtpd.ConfigValues() {
		vals[k] = v
	}
	require.Equal(t, "none", vals["MAIL_ENCRYPTION"])
	newEnv := func() (*Env, *bookingOutBuffer) {
		cfg, err := config.FromMap(vals)
		require.NoError(t, err)
		out := &bookingOutBuffer{}
		return &Env{Stdout: out, Stderr: out, Cfg: cfg}, out
	}

	// Migrate and seed with one env, kept open for the assertions on the
	// database; serve gets its own env (its own pool, as a separate
	// process would have).
	ctx := context.Background()
	dbEnv, dbOut := newEnv()
	t.Cleanup(dbEnv.closeAll)
	require.NoError(t, Run(ctx, dbEnv, []string{"migrate", "--seed"}), dbOut.String())
	require.Contains(t, dbOut.String(), "Seeded ")
	db, err := dbEnv.OpenDB(ctx)
	require.NoError(t, err)
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRowContext(ctx, db.Rebind(query), args...).Scan(&n), query)
		return n
	}
	require.Zero(t, count("SELECT COUNT(*) FROM jobs"))

	env, out := newEnv()
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(serveCtx, env, []string{"serve", "--addr", addr}) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Errorf("serve did not stop during cleanup")
			}
		}
		env.closeAll()
	})

	client := &http.Client{Timeout: 30 * time.Second}
	waitUntil(t, 90*time.Second, "serve answers /healthz", func() bool {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("serve returned before it answered: %v\n%s", err, out.String())
		default:
		}
		res, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	t.Logf("%s: serve up after %s", d, time.Since(started).Round(time.Millisecond))

	api := &flowClient{t: t, c: client, base: base}

	// Log in as the seeded customer.
	var login struct {
		Token string `json:"token"`
		Data  struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
		} `json:"data"`
	}
	api.do("POST", "/api/login", map[string]string{"email": demoCustomerEmail, "password": demoPassword}, nil, http.StatusOK, &login)
	require.NotEmpty(t, login.Token)
	require.Equal(t, demoCustomerEmail, login.Data.Email)
	api.token = login.Token

	// List the tours and pick the first seeded one.
	var tours struct {
		Data []struct {
			ID       int64  `json:"id"`
			Title    string `json:"title"`
			Price    int64  `json:"price"`
			Capacity int    `json:"capacity"`
			Quota    int    `json:"quota"`
		} `json:"data"`
	}
	api.do("GET", "/api/tours?per_page=100", nil, nil, http.StatusOK, &tours)
	require.Len(t, tours.Data, len(demoTours))
	want := demoTours[0]
	var tourID int64
	for _, tr := range tours.Data {
		if tr.Title == want.title {
			tourID = tr.ID
			require.Equal(t, want.price, tr.Price)
			require.Equal(t, want.capacity, tr.Capacity)
			require.Equal(t, want.capacity, tr.Quota, "nothing booked yet")
		}
	}
	require.NotZero(t, tourID, "seeded tour %q not listed", want.title)

	// Book two seats with an Idempotency-Key; a retry replays the answer.
	const qty = 2
	type bookingBody struct {
		ID          int64     `json:"id"`
		Code        string    `json:"code"`
		Status      string    `json:"status"`
		UserID      int64     `json:"user_id"`
		TourID      int64     `json:"tour_id"`
		Quantity    int       `json:"quantity"`
		UnitPrice   int64     `json:"unit_price"`
		TotalAmount int64     `json:"total_amount"`
		ExpiresAt   time.Time `json:"expires_at"`
	}
	var created struct{ Data bookingBody }
	idem := map[string]string{"Idempotency-Key": "flow-" + string(d) + "-1"}
	res := api.do("POST", "/api/bookings", map[string]any{"tour_id": tourID, "quantity": qty}, idem, http.StatusCreated, &created)
	bk := created.Data
	require.Empty(t, res.Header.Get("Idempotent-Replayed"))
	require.Positive(t, bk.ID)
	require.NotEmpty(t, bk.Code)
	require.Equal(t, "pending", bk.Status)
	require.Equal(t, login.Data.ID, bk.UserID)
	require.Equal(t, tourID, bk.TourID)
	require.Equal(t, qty, bk.Quantity)
	require.Equal(t, want.price, bk.UnitPrice)
	require.Equal(t, want.price*qty, bk.TotalAmount)
	require.WithinDuration(t, time.Now().Add(flowExpiryMinutes*time.Minute), bk.ExpiresAt, 30*time.Second)
	var replay struct{ Data bookingBody }
	res = api.do("POST", "/api/bookings", map[string]any{"tour_id": tourID, "quantity": qty}, idem, http.StatusCreated, &replay)
	require.Equal(t, "true", res.Header.Get("Idempotent-Replayed"))
	require.Equal(t, bk.ID, replay.Data.ID)
	require.Equal(t, 1, count("SELECT COUNT(*) FROM bookings"), "the replay booked nothing")
	require.Equal(t, want.capacity-qty, count("SELECT quota FROM tours WHERE id = ?", tourID))
	requireSeatInvariant(t, count)

	amount := rupiah(bk.TotalAmount)
	require.Equal(t, "Rp9.000.000", amount, "4,500,000 x 2, formatted as the emails do")

	// The invoice email, sent by the embedded worker.
	msgs := smtpd.WaitForMessages(1, 15*time.Second)
	require.Len(t, msgs, 1, "the invoice email did not arrive within 15s\n%s", out.String())
	require.Equal(t, []string{demoCustomerEmail}, msgs[0].To)
	inv, err := msgs[0].Parse()
	require.NoError(t, err)
	require.Contains(t, inv.To, demoCustomerEmail)
	require.Contains(t, inv.From, "noreply@tripintravel.com")
	require.Equal(t, "Invoice "+bk.Code+": "+want.title, inv.Subject)
	require.NotEmpty(t, inv.Text, "invoice has no text part")
	require.NotEmpty(t, inv.HTML, "invoice has no HTML part")
	for name, body := range map[string]string{"text": inv.Text, "html": inv.HTML} {
		require.Contains(t, body, bk.Code, "invoice %s part", name)
		require.Contains(t, body, amount, "invoice %s part", name)
		require.Contains(t, body, rupiah(bk.UnitPrice), "invoice %s part", name)
	}
	require.Contains(t, inv.Text, base+"/simulator/"+bk.Code, "payment link before any Snap transaction")

	// Pay: a Snap token and redirect URL, the same ones on a repeat.
	type payBody struct {
		Data struct {
			Token       string `json:"token"`
			RedirectURL string `json:"redirect_url"`
		} `json:"data"`
	}
	var pay1, pay2 payBody
	payPath := fmt.Sprintf("/api/bookings/%d/pay", bk.ID)
	api.do("POST", payPath, nil, nil, http.StatusOK, &pay1)
	require.NotEmpty(t, pay1.Data.Token)
	require.NotEmpty(t, pay1.Data.RedirectURL)
	require.Contains(t, pay1.Data.RedirectURL, bk.Code)
	api.do("POST", payPath, nil, nil, http.StatusOK, &pay2)
	require.Equal(t, pay1.Data, pay2.Data, "a repeated pay call answers the same Snap transaction")

	// In local mode the Snap page is the simulator, behind a signed link
	// that only opens as it was signed (the invoice's too).
	require.True(t, strings.HasPrefix(pay1.Data.RedirectURL, base+"/simulator/"+bk.Code+"?"), pay1.Data.RedirectURL)
	invoiceLink := regexp.MustCompile(regexp.QuoteMeta(base+"/simulator/"+bk.Code) + `\?\S+`).FindString(inv.Text)
	for _, link := range []string{pay1.Data.RedirectURL, invoiceLink} {
		res, body := api.raw("GET", strings.TrimPrefix(link, base), false)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", link, body)
		require.Contains(t, body, bk.Code)
		res, body = api.raw("GET", strings.Replace(strings.TrimPrefix(link, base), "signature=", "signature=00", 1), false)
		require.Equal(t, http.StatusForbidden, res.StatusCode, body)
	}

	// Settlement through the simulator: the booking becomes paid.
	var sim struct {
		Data struct {
			Outcome string `json:"outcome"`
		} `json:"data"`
	}
	settle := map[string]string{"order_id": bk.Code, "transaction_status": "settlement"}
	api.do("POST", "/api/payments/simulate", settle, nil, http.StatusOK, &sim)
	require.Equal(t, "paid", sim.Data.Outcome)
	var shown struct {
		Data struct {
			Status string     `json:"status"`
			PaidAt *time.Time `json:"paid_at"`
		} `json:"data"`
	}
	api.do("GET", fmt.Sprintf("/api/bookings/%d", bk.ID), nil, nil, http.StatusOK, &shown)
	require.Equal(t, "paid", shown.Data.Status)
	require.NotNil(t, shown.Data.PaidAt)

	// The e-ticket email, with the QR code as an inline PNG.
	msgs = smtpd.WaitForMessages(2, 15*time.Second)
	require.Len(t, msgs, 2, "the e-ticket email did not arrive within 15s\n%s", out.String())
	require.Equal(t, []string{demoCustomerEmail}, msgs[1].To)
	tkt, err := msgs[1].Parse()
	require.NoError(t, err)
	require.Equal(t, "Your e-ticket "+bk.Code+": "+want.title, tkt.Subject)
	require.Contains(t, tkt.Text, bk.Code)
	require.Contains(t, tkt.HTML, bk.Code)
	require.Contains(t, tkt.Text, amount)
	var qr *mailtest.Part
	for _, p := range tkt.Parts {
		if p.ContentType == "image/png" {
			require.Nil(t, qr, "more than one PNG part")
			qr = p
		}
	}
	require.NotNil(t, qr, "the e-ticket has no PNG part")
	require.NotEmpty(t, qr.ContentID)
	require.NotEqual(t, "attachment", qr.Disposition)
	require.Contains(t, tkt.MultipartTypes, "multipart/related")
	require.Contains(t, tkt.HTML, "cid:"+qr.ContentID, "the HTML part shows the inline image")
	img, err := png.Decode(bytes.NewReader(qr.Data))
	require.NoError(t, err, "the QR part is not a valid PNG")
	require.Greater(t, img.Bounds().Dx(), 20)

	// A duplicate settlement changes nothing and sends no second e-ticket.
	api.do("POST", "/api/payments/simulate", settle, nil, http.StatusOK, &sim)
	require.Equal(t, "duplicate", sim.Data.Outcome)
	time.Sleep(2 * time.Second)
	require.Zero(t, count("SELECT COUNT(*) FROM jobs WHERE queue = ?", "emails"), "no email job is waiting")
	require.Equal(t, 2, smtpd.Accepted(), "a duplicate settlement sent another email")
	require.Equal(t, 2, smtpd.Attempts())
	require.Equal(t, 2, count("SELECT COUNT(*) FROM sent_emails"), "delivery records")
	for _, kind := range []string{"invoice", "eticket"} {
		require.Equal(t, 1, count("SELECT COUNT(*) FROM sent_emails WHERE booking_id = ? AND kind = ? AND recipient = ?",
			bk.ID, kind, demoCustomerEmail), "the %s delivery record", kind)
	}

	// The ticket page, for the logged-in owner and from the email's signed
	// link without a login.
	ticketPath := fmt.Sprintf("/api/bookings/%d/ticket", bk.ID)
	res, body := api.raw("GET", ticketPath, true)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, res.Header.Get("Content-Type"), "text/html")
	require.Contains(t, body, bk.Code)
	res, body = api.raw("GET", ticketPath, false)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, body)
	link := regexp.MustCompile(regexp.QuoteMeta(base+ticketPath) + `\?expires=[0-9]+&signature=[0-9a-f]+`).FindString(tkt.Text)
	require.NotEmpty(t, link, "the e-ticket text has no signed ticket link:\n%s", tkt.Text)
	res, body = api.raw("GET", strings.TrimPrefix(link, base), false)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, bk.Code)

	// Seats: the paid booking still holds its two.
	require.Equal(t, want.capacity-qty, count("SELECT quota FROM tours WHERE id = ?", tourID))
	requireSeatInvariant(t, count)

	// The queue holds nothing but the booking's ExpireBooking job, due
	// when its hold ends (it then finds the booking paid and leaves it).
	requireOnlyExpiryJob(t, db, bk.ID, bk.ExpiresAt)
	require.Zero(t, count("SELECT COUNT(*) FROM failed_jobs"), "failed jobs")
	require.Equal(t, 2, smtpd.Accepted(), "no email after the e-ticket")

	// Graceful stop.
	stop()
	select {
	case err := <-done:
		stopped = true
		require.NoError(t, err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not return within 60s of cancel\n%s", out.String())
	}
	requireOnlyExpiryJob(t, db, bk.ID, bk.ExpiresAt)
	require.Zero(t, count("SELECT COUNT(*) FROM failed_jobs"), "failed jobs after stop")
	require.Equal(t, 1, count("SELECT COUNT(*) FROM bookings WHERE id = ? AND status = ?", bk.ID, "paid"))
	requireSeatInvariant(t, count)
	t.Logf("%s: flow done in %s", d, time.Since(started).Round(time.Millisecond))
}

// requireSeatInvariant checks every tour: capacity = quota + the seats of
// its pending and paid bookings.
func requireSeatInvariant(t *testing.T, count func(string, ...any) int) {
	t.Helper()
	require.Zero(t, count(`SELECT COUNT(*) FROM tours t WHERE t.capacity <> t.quota + COALESCE((
		SELECT SUM(b.quantity) FROM bookings b WHERE b.tour_id = t.id AND b.status IN ('pending', 'paid')), 0)`),
		"tours whose capacity is not quota + pending and paid seats")
	require.Positive(t, count("SELECT COUNT(*) FROM tours"))
}

// requireOnlyExpiryJob checks that the jobs table holds exactly one job:
// the booking's ExpireBooking, unclaimed, never tried, due at its
// expires_at. Everything else (the two emails) ran and was deleted.
func requireOnlyExpiryJob(t *testing.T, db *store.DB, bookingID int64, expiresAt time.Time) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(),
		"SELECT queue, kind, payload, attempts, reserved_at IS NULL, available_at FROM jobs ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var jobs []string
	for rows.Next() {
		var (
			queue, kind, payload string
			attempts             int
			unreserved           bool
			availableAt          int64
		)
		require.NoError(t, rows.Scan(&queue, &kind, &payload, &attempts, &unreserved, &availableAt))
		jobs = append(jobs, kind+" on "+queue)
		require.Equal(t, "ExpireBooking", kind, "payload %s", payload)
		require.Equal(t, "default", queue)
		require.Contains(t, payload, fmt.Sprintf(`"booking_id":%d`, bookingID))
		require.Zero(t, attempts)
		require.True(t, unreserved)
		require.InDelta(t, expiresAt.Unix(), availableAt, 2, "the expiry job is due when the hold ends")
	}
	require.NoError(t, rows.Err())
	require.Len(t, jobs, 1, "jobs left in the queue: %v", jobs)
}

// rupiah formats an amount as the emails do, independently of the mail
// package: "Rp" and dots between thousands.
func rupiah(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return "Rp" + b.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// waitUntil polls cond every 100ms until it holds, failing the test after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout.Round(time.Second), what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// flowClient speaks JSON to the API, with a bearer token once logged in.
type flowClient struct {
	t     *testing.T
	c     *http.Client
	base  string
	token string
}

// do sends body as JSON, requires the status and decodes the answer into
// out (when not nil).
func (f *flowClient) do(method, path string, body any, header map[string]string, status int, out any) *http.Response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(f.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	require.NoError(f.t, err)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.c.Do(req)
	require.NoError(f.t, err, "%s %s", method, path)
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(f.t, err)
	require.Equal(f.t, status, res.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(f.t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return res
}

// raw sends a GET (or other bodiless request) and returns the answer and
// its body, with or without the token.
func (f *flowClient) raw(method, path string, auth bool) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, nil)
	require.NoError(f.t, err)
	if auth && f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	res, err := f.c.Do(req)
	require.NoError(f.t, err, "%s %s", method, path)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(f.t, err)
	return res, string(b)
}
