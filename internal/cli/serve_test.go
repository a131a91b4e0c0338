package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// bookingOutBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type bookingOutBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *bookingOutBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *bookingOutBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bookingTestEnv returns an Env on a fresh SQLite file (not migrated).
func bookingTestEnv(t *testing.T, vals map[string]string) (*Env, *bookingOutBuffer) {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"DB_CONNECTION": "sqlite", "DB_DATABASE": filepath.Join(dir, "tripin.db"),
		"LOG_FILE": filepath.Join(dir, "tripin.log"), "APP_ENV": "testing",
	}
	for k, v := range vals {
		base[k] = v
	}
	cfg, err := config.FromMap(base)
	require.NoError(t, err)
	out := &bookingOutBuffer{}
	env := &Env{Stdout: out, Stderr: out, Cfg: cfg}
	t.Cleanup(env.closeAll)
	return env, out
}

func TestUserCreateCommand(t *testing.T) {
	env, out := bookingTestEnv(t, nil)
	ctx := context.Background()
	require.NoError(t, Run(ctx, env, []string{"migrate"}))
	require.NoError(t, Run(ctx, env, []string{"user", "create", "--name", "Sari", "--email", "Sari@Example.com", "--password", "rahasia123", "--admin"}))
	require.Contains(t, out.String(), "Created admin")
	require.Contains(t, out.String(), "sari@example.com")

	err := Run(ctx, env, []string{"user:create", "--name", "Sari 2", "--email", "sari@example.com", "--password", "rahasia123"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "--email: The email has already been taken.")
	err = Run(ctx, env, []string{"user", "create", "--name", "Budi", "--email", "budi@example.com", "--password", "short"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "at least 8 characters")
	require.NotContains(t, err.Error(), "\n")

	db, err := env.OpenDB(ctx)
	require.NoError(t, err)
	u, err := db.UserGetByEmail(ctx, "sari@example.com")
	require.NoError(t, err)
	require.True(t, u.IsAdmin)
	require.NotEqual(t, "rahasia123", u.PasswordHash)
	n, err := db.UserCount(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestDBSeedIsIdempotent(t *testing.T) {
	env, _ := bookingTestEnv(t, map[string]string{"APP_ENV": "local"})
	ctx := context.Background()
	require.NoError(t, Run(ctx, env, []string{"migrate"}))
	require.NoError(t, Run(ctx, env, []string{"db", "seed"}))
	require.NoError(t, Run(ctx, env, []string{"db:seed"}))
	db, err := env.OpenDB(ctx)
	require.NoError(t, err)
	var tours, users int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tours").Scan(&tours))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&users))
	require.Equal(t, len(demoTours), tours)
	require.Equal(t, 2, users)
	admin, err := db.UserGetByEmail(ctx, demoAdminEmail)
	require.NoError(t, err)
	require.True(t, admin.IsAdmin)
	var past int
	today := time.Now().In(env.Cfg.AppTimezone).Format("2006-01-02")
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tours WHERE departure_date <= ?", today).Scan(&past))
	require.Zero(t, past, "every seeded departure is in the future")
}

func TestServeRefusesSchemaBehind(t *testing.T) {
	// Production SQLite is not migrated behind the operator's back.
	env, _ := bookingTestEnv(t, map[string]string{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": "SB-Mid-server-test", "APP_KEY": testAppKey})
	err := Run(context.Background(), env, []string{"serve", "--addr", "127.0.0.1:0"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "schema is behind")
	require.Contains(t, err.Error(), "tripin migrate")

	for _, d := range storetest.Dialects() {
		if d == store.SQLite {
			continue
		}
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.NewDSN(t, d)
			env, _ := bookingTestEnv(t, map[string]string{"DB_CONNECTION": string(d), "DB_URL": dsn, "APP_ENV": "local"})
			err := Run(context.Background(), env, []string{"serve", "--addr", "127.0.0.1:0"})
			require.Error(t, err)
			require.Contains(t, err.Error(), "schema is behind")
		})
	}
}

func TestServeLocalSQLite(t *testing.T) {
	env, out := bookingTestEnv(t, map[string]string{"APP_ENV": "local"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, []string{"serve", "--addr", "127.0.0.1:0", "--no-worker", "--no-scheduler"})
	}()

	apiLine := regexp.MustCompile(`API:\s+(http://\S+)/api`)
	var base string
	require.Eventually(t, func() bool {
		m := apiLine.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 180*time.Second, 50*time.Millisecond, out.String())
	banner := out.String()
	for _, want := range []string{"Migrated: 0001_core", "/simulator/", "/api/payments/simulate", demoAdminEmail, demoCustomerEmail, demoPassword} {
		require.Contains(t, banner, want)
	}

	res, err := http.Get(base + "/api/tours?per_page=100")
	require.NoError(t, err)
	var body struct {
		Data []map[string]any `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	res.Body.Close()
	require.Len(t, body.Data, len(demoTours))

	res, err = http.Post(base+"/api/login", "application/json", strings.NewReader(`{"email":"`+demoCustomerEmail+`","password":"`+demoPassword+`"}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	res, err = http.Get(base + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}

func TestBenchBookingSmoke(t *testing.T) {
	env, out := bookingTestEnv(t, nil)
	err := Run(context.Background(), env, []string{"bench", "booking", "--backend", "sqlite", "--concurrency", "4",
		"--duration", "300ms", "--warmup", "0s", "--tours", "2", "--users", "4", "--json"})
	require.NoError(t, err, out.String())
	var res bench.BookingResult
	require.NoError(t, json.Unmarshal([]byte(out.String()), &res), out.String())
	require.Greater(t, res.Requests, 0)
	require.Equal(t, 0, res.Errors, res.FirstFailure)
	require.Greater(t, res.RequestsPerSec, 0.0)
	require.Greater(t, res.RawTxPerSec, 0.0)
	require.LessOrEqual(t, res.LatencyP50Ms, res.LatencyP99Ms)
	require.True(t, res.InvariantOK)
	require.True(t, res.WithJobs, "serve inserts the invoice and expiry jobs, so the benchmark does too")
}

// TestBenchQueueSmoke runs the queue benchmark at a small scale on SQLite
// and, when a Redis server is given, on Redis: every job inserted is
// drained (the command checks and fails otherwise) and no key of the run
// is left behind.
func TestBenchQueueSmoke(t *testing.T) {
	backends := []string{"sqlite"}
	redisURL := os.Getenv("TRIPIN_TEST_REDIS_URL")
	switch {
	case redisURL != "":
		backends = append(backends, "redis")
	case os.Getenv("CI") == "true":
		t.Fatal("TRIPIN_TEST_REDIS_URL is not set; CI runs the Redis benchmark smoke test")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			env, out := bookingTestEnv(t, nil)
			args := []string{"bench", "queue", "--backend", backend, "--dsn", t.TempDir(), "--jobs", "300", "--runs", "1",
				"--concurrency", "10", "--insert-batch", "100", "--latency-jobs", "20", "--latency-interval", "1ms", "--json"}
			if backend == "redis" {
				args = append(args, "--redis-url", redisURL)
			}
			require.NoError(t, Run(context.Background(), env, args), out.String())
			var res bench.QueueResult
			require.NoError(t, json.Unmarshal([]byte(out.String()), &res), out.String())
			require.Equal(t, backend, res.Backend)
			require.Equal(t, 300, res.Jobs)
			require.Greater(t, res.WorkPerSec, 0.0)
			require.Greater(t, res.InsertPerSec, 0.0)
			require.Greater(t, res.LatencyP50MS, 0.0)
			require.LessOrEqual(t, res.LatencyP50MS, res.LatencyP99MS)
			require.Greater(t, res.XProcLatencyP50MS, 0.0)
			if backend == "redis" {
				opts, err := redis.ParseURL(redisURL)
				require.NoError(t, err)
				rdb := redis.NewClient(opts)
				defer rdb.Close()
				var left []string
				iter := rdb.Scan(context.Background(), 0, "tripin:bench:*", 1000).Iterator()
				for iter.Next(context.Background()) {
					left = append(left, iter.Val())
				}
				require.NoError(t, iter.Err())
				require.Empty(t, left, "the run's keys are deleted")
			}
		})
	}
}

// TestServeKeepsItsWorkerAfterQueueRestart runs `serve`, then `tripin
// queue restart` as an operator would after a deploy: the embedded worker
// ends its run and serve starts a new one, so a booking made afterwards
// still gets its invoice. /readyz counts the restart and stays ready.
func TestServeKeepsItsWorkerAfterQueueRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		dsn := storetest.NewDSN(t, d)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		base := "http://" + addr
		cfg, err := config.FromMap(map[string]string{
			"APP_ENV": "local", "APP_URL": base, "DB_CONNECTION": string(d), "DB_URL": dsn,
			"LOG_FILE": filepath.Join(t.TempDir(), "tripin.log"), "MAIL_MAILER": "log",
		})
		require.NoError(t, err)
		newEnv := func() (*Env, *bookingOutBuffer) {
			out := &bookingOutBuffer{}
			env := &Env{Stdout: out, Stderr: out, Cfg: cfg}
			t.Cleanup(env.closeAll)
			return env, out
		}
		ctx := context.Background()
		dbEnv, dbOut := newEnv()
		require.NoError(t, Run(ctx, dbEnv, []string{"migrate"}), dbOut.String())
		db, err := dbEnv.OpenDB(ctx)
		require.NoError(t, err)
		// A customer (its password hashed at bcrypt's lowest cost, so the
		// race detector does not spend seconds on it) and a tour; with a
		// user in the database, serve seeds no demo data.
		_, token, err := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost}).Register(ctx,
			booking.NewUser{Name: "Sari", Email: "sari@example.com", Password: "rahasia123"})
		require.NoError(t, err)
		title, dest, date, price, capacity := "Bromo sunrise", "Probolinggo", time.Now().AddDate(0, 1, 0).Format(time.DateOnly), int64(350000), 10
		tour, err := booking.NewService(booking.ServiceParams{Store: db}).CreateTour(ctx, booking.TourChanges{
			Title: &title, Destination: &dest, DepartureDate: &date, Price: &price, Capacity: &capacity})
		require.NoError(t, err)
		invoices := func(bookingID int64) int {
			var n int
			require.NoError(t, db.QueryRowContext(ctx, db.Rebind("SELECT COUNT(*) FROM sent_emails WHERE booking_id = ? AND kind = 'invoice'"), bookingID).Scan(&n))
			return n
		}

		env, out := newEnv()
		serveCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- Run(serveCtx, env, []string{"serve", "--addr", addr}) }()
		t.Cleanup(func() {
			stop()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(60 * time.Second):
				t.Errorf("serve did not stop")
			}
		})
		client := &http.Client{Timeout: 30 * time.Second}
		api := &flowClient{t: t, c: client, base: base, token: token}
		waitServeUp(t, client, base, nil, nil)
		worker := func() httpapiPart {
			var body struct {
				Data struct {
					Parts []httpapiPart `json:"parts"`
				} `json:"data"`
			}
			api.do("GET", "/readyz", nil, nil, http.StatusOK, &body)
			for _, p := range body.Data.Parts {
				if p.Name == "worker" {
					return p
				}
			}
			t.Fatalf("/readyz lists no worker")
			return httpapiPart{}
		}
		require.Equal(t, 0, worker().Restarts)

		book := func() int64 {
			var b struct {
				Data struct {
					ID int64 `json:"id"`
				} `json:"data"`
			}
			api.do("POST", "/api/bookings", map[string]any{"tour_id": tour.ID, "quantity": 1}, nil, http.StatusCreated, &b)
			return b.Data.ID
		}
		first := book()
		waitUntil(t, 30*time.Second, "the first invoice is sent", func() bool { return invoices(first) == 1 })

		restartEnv, restartOut := newEnv()
		require.NoError(t, Run(ctx, restartEnv, []string{"queue", "restart"}), restartOut.String())
		waitUntil(t, 30*time.Second, "serve restarts its worker", func() bool {
			w := worker()
			return w.Restarts == 1 && w.State == "up"
		})

		second := book()
		waitUntil(t, 30*time.Second, "the invoice of a booking made after the restart is sent", func() bool { return invoices(second) == 1 })
		require.Contains(t, out.String(), "queue restart signal", "the worker's run ended on the signal")
		require.Equal(t, 1, worker().Restarts)
	})
}

// httpapiPart is a part as /readyz lists it.
type httpapiPart struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
}

// waitServeUp waits until serve at base answers /healthz with 200. When
// done is given (serve's return value), a serve that returns first fails
// the test with its output; the error is put back for the caller.
func waitServeUp(t *testing.T, client *http.Client, base string, done chan error, out fmt.Stringer) {
	t.Helper()
	waitUntil(t, 90*time.Second, "serve answers /healthz", func() bool {
		if done != nil {
			select {
			case err := <-done:
				done <- err
				t.Fatalf("serve returned: %v\n%s", err, out)
			default:
			}
		}
		res, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}
