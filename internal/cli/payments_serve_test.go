package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
	"github.com/tripintravel/tripin/internal/store"
)

// payServe is `serve` running in-process for a payments test, with a
// database env kept open beside it for setup and assertions.
type payServe struct {
	t    *testing.T
	base string
	out  *bookingOutBuffer
	db   *store.DB
	api  *flowClient
}

// startPayServe migrates a fresh SQLite database, creates a customer, an
// admin and a tour with the commands and the store (no demo data outside
// local mode), and starts serve with its embedded worker.
func startPayServe(t *testing.T, vals map[string]string) *payServe {
	t.Helper()
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	all := map[string]string{
		"APP_URL": "http://" + addr, "DB_CONNECTION": "sqlite", "DB_DATABASE": filepath.Join(dir, "tripin.db"),
		"LOG_FILE": filepath.Join(dir, "tripin.log"), "MAIL_MAILER": "log",
	}
	for k, v := range vals {
		all[k] = v
	}
	cfg, err := config.FromMap(all)
	require.NoError(t, err)
	newEnv := func() (*Env, *bookingOutBuffer) {
		out := &bookingOutBuffer{}
		return &Env{Stdout: out, Stderr: out, Cfg: cfg}, out
	}
	ctx := context.Background()
	dbEnv, dbOut := newEnv()
	t.Cleanup(dbEnv.closeAll)
	require.NoError(t, Run(ctx, dbEnv, []string{"migrate"}), dbOut.String())
	for _, u := range [][]string{
		{"--name", "Ayu", "--email", "ayu@example.com"}, {"--name", "Budi", "--email", "budi@example.com"},
		{"--name", "Ops", "--email", "ops@example.com", "--admin"},
	} {
		require.NoError(t, Run(ctx, dbEnv, append([]string{"user", "create", "--password", "rahasia-123"}, u...)), dbOut.String())
	}
	db, err := dbEnv.OpenDB(ctx)
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, db.TourCreate(ctx, &booking.Tour{Title: "Komodo day trip", Destination: "Labuan Bajo",
		DepartureDate: now.AddDate(0, 1, 0).Format(time.DateOnly), Price: 750_000, Capacity: 10, Quota: 10, CreatedAt: now, UpdatedAt: now}))

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
	waitServeUp(t, client, "http://"+addr, done, out)
	return &payServe{t: t, base: "http://" + addr, out: out, db: db, api: &flowClient{t: t, c: client, base: "http://" + addr}}
}

// login returns the token of a user created by startPayServe.
func (s *payServe) login(email string) string {
	var login struct {
		Token string `json:"token"`
	}
	s.api.token = ""
	s.api.do("POST", "/api/login", map[string]string{"email": email, "password": "rahasia-123"}, nil, http.StatusOK, &login)
	return login.Token
}

type payBooking struct {
	ID          int64  `json:"id"`
	Code        string `json:"code"`
	TotalAmount int64  `json:"total_amount"`
}

// book books two seats of the tour as the user of token and opens its Snap
// transaction; it returns the booking and the Snap redirect URL.
func (s *payServe) book(token string) (payBooking, string) {
	s.api.token = token
	var tours struct {
		Data []struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	s.api.do("GET", "/api/tours", nil, nil, http.StatusOK, &tours)
	require.NotEmpty(s.t, tours.Data)
	var created struct{ Data payBooking }
	s.api.do("POST", "/api/bookings", map[string]any{"tour_id": tours.Data[0].ID, "quantity": 2}, nil, http.StatusCreated, &created)
	var pay struct {
		Data struct {
			RedirectURL string `json:"redirect_url"`
		} `json:"data"`
	}
	s.api.do("POST", fmt.Sprintf("/api/bookings/%d/pay", created.Data.ID), nil, nil, http.StatusOK, &pay)
	return created.Data, pay.Data.RedirectURL
}

// callback posts a raw notification body and returns the answer.
func (s *payServe) callback(body []byte) (*http.Response, string) {
	res, err := s.api.c.Post(s.base+"/api/midtrans/callback", "application/json", bytes.NewReader(body))
	require.NoError(s.t, err)
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	res.Body.Close()
	return res, b.String()
}

func (s *payServe) status(id int64) string {
	var st string
	require.NoError(s.t, s.db.QueryRowContext(context.Background(), s.db.Rebind("SELECT status FROM bookings WHERE id = ?"), id).Scan(&st))
	return st
}

// TestServeStatusAPICheck runs serve in staging against a fake Midtrans
// and checks the payment safeguards end to end: a signed settlement is
// applied only once the Status API says so; a notification whose status
// was rewritten is refused; an address that keeps sending rejected
// notifications is answered 429; a cancelled booking's Snap transaction is
// expired at Midtrans by the embedded worker; and while Midtrans cannot be
// reached a notification is answered 503 and changes nothing.
func TestServeStatusAPICheck(t *testing.T) {
	t.Parallel()
	const key = "SB-Mid-server-serve-status-check"
	fake := midtranstest.NewServer(key)
	t.Cleanup(fake.Close)
	s := startPayServe(t, map[string]string{
		"APP_ENV": "staging", "APP_KEY": testAppKey, "MIDTRANS_SERVER_KEY": key, "MIDTRANS_SNAP_URL": fake.URL, "MIDTRANS_API_URL": fake.URL,
		"PAYMENT_REJECTED_RATE_LIMIT": "3",
	})
	ayu := s.login("ayu@example.com")
	bk, redirect := s.book(ayu)
	require.NotContains(t, redirect, "/simulator/", "no simulator in staging")
	gross := bk.TotalAmount

	// A correctly signed settlement that Midtrans does not confirm (the
	// transaction is still pending there) pays nothing.
	settlement := midtrans.BuildNotification(key, midtrans.NotificationParams{OrderID: bk.Code, GrossAmount: gross, TransactionStatus: "settlement"})
	res, body := s.callback(settlement)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Contains(t, body, `"outcome":"pending"`)
	require.Equal(t, "pending", s.status(bk.ID))

	// A pending notification replayed as a settlement: its status_code
	// gives it away.
	pending := midtrans.BuildNotification(key, midtrans.NotificationParams{OrderID: bk.Code, GrossAmount: gross, TransactionStatus: "pending"})
	rewritten := bytes.Replace(pending, []byte(`"transaction_status":"pending"`), []byte(`"transaction_status":"settlement"`), 1)
	res, body = s.callback(rewritten)
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, body)
	require.Equal(t, "pending", s.status(bk.ID))

	// Midtrans settles and notifies: now the booking is paid.
	code, err := fake.Notify(context.Background(), s.base+"/api/midtrans/callback", bk.Code, "settlement", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "paid", s.status(bk.ID))

	// Forgeries from one address: answered, then 429 once past the limit,
	// with Retry-After; a genuine notification from that address still
	// passes.
	// (The limit counts in minute windows: one that ends during the loop
	// lets up to three more through.)
	forged := bytes.Replace(settlement, []byte(`"signature_key":"`), []byte(`"signature_key":"00`), 1)
	refused := 0
	for i := 0; ; i++ {
		require.Less(t, i, 8, "no 429 after %d forgeries", i)
		res, body = s.callback(forged)
		if res.StatusCode == http.StatusTooManyRequests {
			require.NotEmpty(t, res.Header.Get("Retry-After"))
			break
		}
		require.Equal(t, http.StatusForbidden, res.StatusCode, "forgery %d: %s", i, body)
		refused++
	}
	var stored int
	require.NoError(t, s.db.QueryRow("SELECT COUNT(*) FROM payment_notifications WHERE outcome = 'bad_signature'").Scan(&stored))
	require.Equal(t, refused, stored, "the throttled one is not stored")

	// A cancelled booking: its Snap transaction is expired at Midtrans.
	bk2, _ := s.book(ayu)
	s.api.do("POST", fmt.Sprintf("/api/bookings/%d/cancel", bk2.ID), nil, nil, http.StatusOK, nil)
	waitUntil(t, 30*time.Second, "the embedded worker expires the Snap transaction", func() bool {
		tx, _ := fake.Transaction(bk2.Code)
		return tx.TransactionStatus == midtrans.StatusExpire
	})

	// Midtrans unreachable: 503, nothing changes, and Midtrans will retry.
	bk3, _ := s.book(ayu)
	fake.SetStatus(bk3.Code, bk3.TotalAmount, "settlement", "")
	settle3, err := fake.Notification(bk3.Code)
	require.NoError(t, err)
	fake.Close()
	res, body = s.callback(settle3)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)
	require.Equal(t, "pending", s.status(bk3.ID))
	require.NoError(t, s.db.QueryRow(s.db.Rebind("SELECT COUNT(*) FROM payment_notifications WHERE order_id = ? AND outcome = 'status_check_failed'"), bk3.Code).Scan(&stored))
	require.Equal(t, 1, stored)
}

// TestServeSimulatorSwitch: in staging the simulator does not exist unless
// PAYMENT_SIMULATOR=true (with a sandbox key), and then answers only the
// booking's owner or an admin.
func TestServeSimulatorSwitch(t *testing.T) {
	t.Parallel()
	const key = "SB-Mid-server-serve-simulator"
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("PAYMENT_SIMULATOR=%v", on), func(t *testing.T) {
			t.Parallel()
			fake := midtranstest.NewServer(key)
			t.Cleanup(fake.Close)
			vals := map[string]string{"APP_ENV": "staging", "APP_KEY": testAppKey, "MIDTRANS_SERVER_KEY": key, "MIDTRANS_SNAP_URL": fake.URL, "MIDTRANS_API_URL": fake.URL}
			if on {
				vals["PAYMENT_SIMULATOR"] = "true"
			}
			s := startPayServe(t, vals)
			require.Equal(t, on, strings.Contains(s.out.String(), "Payment simulator:"), "the banner:\n%s", s.out.String())
			ayu, budi, ops := s.login("ayu@example.com"), s.login("budi@example.com"), s.login("ops@example.com")
			bk, _ := s.book(ayu)
			settle := map[string]string{"order_id": bk.Code, "transaction_status": "settlement"}
			var sim struct {
				Data struct {
					Outcome string `json:"outcome"`
				} `json:"data"`
			}
			if !on {
				for _, tok := range []string{"", ayu, ops} {
					s.api.token = tok
					s.api.do("POST", "/api/payments/simulate", settle, nil, http.StatusNotFound, nil)
				}
				res, _ := s.api.raw("GET", "/simulator/"+bk.Code+"?expires=9999999999&signature=00", false)
				require.Equal(t, http.StatusNotFound, res.StatusCode)
				require.Equal(t, "pending", s.status(bk.ID))
				return
			}
			s.api.token = ""
			s.api.do("POST", "/api/payments/simulate", settle, nil, http.StatusUnauthorized, nil)
			s.api.token = budi
			s.api.do("POST", "/api/payments/simulate", settle, nil, http.StatusNotFound, nil)
			require.Equal(t, "pending", s.status(bk.ID))
			s.api.token = ayu
			s.api.do("POST", "/api/payments/simulate", settle, nil, http.StatusOK, &sim)
			require.Equal(t, "paid", sim.Data.Outcome, "the simulator's own notification skips the Status API, which knows nothing of it")
			s.api.token = ops
			s.api.do("POST", "/api/payments/simulate", settle, nil, http.StatusOK, &sim)
			require.Equal(t, "duplicate", sim.Data.Outcome)
			res, _ := s.api.raw("GET", "/simulator/"+bk.Code, false)
			require.Equal(t, http.StatusForbidden, res.StatusCode, "an unsigned simulator link")
		})
	}
}

// TestServeRefusesSimulatorInProduction starts the real command line, as an
// operator would, with the simulator asked for where it must never run: it
// stops at once with one line naming the key.
func TestServeRefusesSimulatorInProduction(t *testing.T) {
	t.Parallel()
	for name, env := range map[string][]string{
		"APP_ENV=production":          {"APP_ENV=production", "MIDTRANS_SERVER_KEY=SB-Mid-server-x", "MIDTRANS_IS_PRODUCTION=false"},
		"MIDTRANS_IS_PRODUCTION=true": {"APP_ENV=staging", "MIDTRANS_SERVER_KEY=Mid-server-x", "MIDTRANS_IS_PRODUCTION=true"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args, err := json.Marshal([]string{"serve", "--addr", "127.0.0.1:0"})
			require.NoError(t, err)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args), "PAYMENT_SIMULATOR=true",
				"DB_CONNECTION=sqlite", "DB_DATABASE="+filepath.Join(dir, "tripin.db"), "DB_URL=", "LOG_FILE="+filepath.Join(dir, "tripin.log"))
			cmd.Env = append(cmd.Env, env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			require.NoError(t, cmd.Start())
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("serve did not stop at start:\n%s%s", stdout.String(), stderr.String())
			}
			require.Error(t, err, "serve must not start")
			line := strings.TrimSpace(stderr.String())
			require.NotContains(t, line, "\n", "one line")
			require.Contains(t, line, "PAYMENT_SIMULATOR")
			require.Contains(t, line, "must not be true when "+name)
			require.NotContains(t, stdout.String(), "Tripin is running")
			_, err = os.Stat(filepath.Join(dir, "tripin.db"))
			require.True(t, os.IsNotExist(err), "nothing was created")
		})
	}
}
