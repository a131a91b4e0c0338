package cli

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestSeedDemoAccountsOnlyLocal: outside local mode `db seed` and
// `migrate --seed` create no account with a known password: demo tours
// only in staging and testing, nothing at all (one clear line) in
// production.
func TestSeedDemoAccountsOnlyLocal(t *testing.T) {
	ctx := context.Background()
	env, out := bookingTestEnv(t, nil) // APP_ENV=testing
	require.NoError(t, Run(ctx, env, []string{"migrate", "--seed"}))
	require.Contains(t, out.String(), "demo accounts are created only with APP_ENV=local")
	require.Contains(t, out.String(), "tripin user create --admin")
	db, err := env.OpenDB(ctx)
	require.NoError(t, err)
	n, err := db.UserCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "no demo account outside local mode")
	var tours int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tours").Scan(&tours))
	require.Equal(t, len(demoTours), tours)

	prod, _ := bookingTestEnv(t, map[string]string{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": "Mid-server-test", "APP_KEY": testAppKey})
	require.NoError(t, Run(ctx, prod, []string{"migrate"}))
	err = Run(ctx, prod, []string{"db", "seed"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n")
	require.Contains(t, err.Error(), "refusing with APP_ENV=production")
	pdb, err := prod.OpenDB(ctx)
	require.NoError(t, err)
	require.NoError(t, pdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM tours").Scan(&tours))
	require.Zero(t, tours)
	n, err = pdb.UserCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestServeRefusesDemoPassword: a database seeded in local mode, served
// in another mode while its demo admin keeps the demo password, does not
// start; once the password is changed it does.
func TestServeRefusesDemoPassword(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vals := map[string]string{
		"DB_CONNECTION": "sqlite", "DB_DATABASE": filepath.Join(dir, "tripin.db"), "LOG_FILE": filepath.Join(dir, "tripin.log"),
		"APP_ENV": "local",
	}
	local, err := config.FromMap(vals)
	require.NoError(t, err)
	out := &bookingOutBuffer{}
	env := &Env{Stdout: out, Stderr: out, Cfg: local}
	t.Cleanup(env.closeAll)
	require.NoError(t, Run(ctx, env, []string{"migrate", "--seed"}), out.String())

	vals["APP_ENV"], vals["MIDTRANS_SERVER_KEY"], vals["APP_KEY"] = "staging", "SB-Mid-server-test", testAppKey
	staging, err := config.FromMap(vals)
	require.NoError(t, err)
	senv := &Env{Stdout: out, Stderr: out, Cfg: staging}
	t.Cleanup(senv.closeAll)
	err = Run(ctx, senv, []string{"serve", "--addr", "127.0.0.1:0"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "demo account "+demoAdminEmail+" still has the demo password")
	require.Contains(t, err.Error(), "tripin user password --email "+demoAdminEmail)
}

// TestUserCreatePasswordSources: the password comes from the first line
// of standard input with --password-stdin, else from TRIPIN_PASSWORD, else
// from --password with a warning; without any of them and without a
// terminal to ask on, the command fails with one line and creates nothing.
func TestUserCreatePasswordSources(t *testing.T) {
	env, out := bookingTestEnv(t, nil)
	ctx := context.Background()
	require.NoError(t, Run(ctx, env, []string{"migrate"}))
	db, err := env.OpenDB(ctx)
	require.NoError(t, err)
	passwordOf := func(email, pw string) bool {
		t.Helper()
		u, err := db.UserGetByEmail(ctx, email)
		require.NoError(t, err)
		return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) == nil
	}

	env.Stdin = strings.NewReader("from-stdin-secret\nsecond line\n")
	require.NoError(t, Run(ctx, env, []string{"user", "create", "--name", "A", "--email", "a@example.com", "--admin", "--password-stdin"}))
	require.True(t, passwordOf("a@example.com", "from-stdin-secret"))
	require.NotContains(t, out.String(), "warning")

	t.Setenv(passwordEnv, "from-env-secret")
	env.Stdin = strings.NewReader("")
	require.NoError(t, Run(ctx, env, []string{"user", "create", "--name", "B", "--email", "b@example.com"}))
	require.True(t, passwordOf("b@example.com", "from-env-secret"))
	require.NotContains(t, out.String(), "warning")

	require.NoError(t, Run(ctx, env, []string{"user", "create", "--name", "C", "--email", "c@example.com", "--password", "from-flag-secret"}))
	require.True(t, passwordOf("c@example.com", "from-flag-secret"))
	require.Contains(t, out.String(), "warning: --password shows the password in ps and the shell history")

	t.Setenv(passwordEnv, "")
	err = Run(ctx, env, []string{"user", "create", "--name", "D", "--email", "d@example.com"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "no password given")
	require.NotContains(t, err.Error(), "\n")
	err = Run(ctx, env, []string{"user", "create", "--name", "D", "--email", "d@example.com", "--password-stdin"})
	require.ErrorContains(t, err, "standard input holds no password")
	err = Run(ctx, env, []string{"user", "create", "--name", "D", "--email", "d@example.com", "--password-stdin", "--password", "x1234567"})
	require.ErrorContains(t, err, "give the password one way")
	// A bad email is reported before any password is asked for.
	err = Run(ctx, env, []string{"user", "create", "--name", "D", "--email", "not-an-email"})
	require.ErrorContains(t, err, "--email:")
	n, err := db.UserCount(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// TestUserPasswordCommand: `user password` sets the password and revokes
// every token of the user; other users keep theirs.
func TestUserPasswordCommand(t *testing.T) {
	env, out := bookingTestEnv(t, nil)
	ctx := context.Background()
	require.NoError(t, Run(ctx, env, []string{"migrate"}))
	db, err := env.OpenDB(ctx)
	require.NoError(t, err)
	acc := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost})
	u, err := acc.CreateUser(ctx, booking.NewUser{Name: "Ops", Email: "ops@example.com", Password: "old-password", IsAdmin: true})
	require.NoError(t, err)
	other, err := acc.CreateUser(ctx, booking.NewUser{Name: "Ayu", Email: "ayu@example.com", Password: "old-password"})
	require.NoError(t, err)
	t1, err := acc.IssueToken(ctx, u.ID, "login")
	require.NoError(t, err)
	t2, err := acc.IssueTokenTTL(ctx, u.ID, "dashboard", time.Hour)
	require.NoError(t, err)
	t3, err := acc.IssueToken(ctx, other.ID, "login")
	require.NoError(t, err)

	env.Stdin = strings.NewReader("a-new-password\n")
	require.NoError(t, Run(ctx, env, []string{"user:password", "--email", "OPS@example.com", "--password-stdin"}), out.String())
	require.Contains(t, out.String(), "logged it out everywhere")
	for _, tok := range []string{t1, t2} {
		_, err := acc.Authenticate(ctx, tok)
		require.Error(t, err, "a token from before the change")
	}
	_, err = acc.Authenticate(ctx, t3)
	require.NoError(t, err, "another user's token")
	_, _, err = acc.Login(ctx, "ops@example.com", "a-new-password")
	require.NoError(t, err)
	_, _, err = acc.Login(ctx, "ops@example.com", "old-password")
	require.Error(t, err)

	env.Stdin = strings.NewReader("short\n")
	require.ErrorContains(t, Run(ctx, env, []string{"user", "password", "--email", "ops@example.com", "--password-stdin"}), "at least 8 characters")
	env.Stdin = strings.NewReader("whatever-password\n")
	require.ErrorContains(t, Run(ctx, env, []string{"user", "password", "--email", "nobody@example.com", "--password-stdin"}), "no user has the email")
}

// accountServe is serve running in-process on a migrated database with one
// customer, for the login and token tests.
type accountServe struct {
	base string
	db   *store.DB
	api  *flowClient
}

func startAccountServe(t *testing.T, d store.Dialect, vals map[string]string) *accountServe {
	t.Helper()
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	all := map[string]string{
		"APP_ENV": "local", "APP_URL": "http://" + addr, "DB_CONNECTION": string(d),
		"LOG_FILE": filepath.Join(dir, "tripin.log"), "MAIL_MAILER": "log",
	}
	if d == store.SQLite {
		all["DB_DATABASE"] = filepath.Join(dir, "tripin.db")
	} else {
		all["DB_URL"] = storetest.NewDSN(t, d)
	}
	for k, v := range vals {
		all[k] = v
	}
	cfg, err := config.FromMap(all)
	require.NoError(t, err)
	ctx := context.Background()
	out := &bookingOutBuffer{}
	dbEnv := &Env{Stdout: out, Stderr: out, Cfg: cfg, Stdin: strings.NewReader("rahasia-123\n")}
	t.Cleanup(dbEnv.closeAll)
	require.NoError(t, Run(ctx, dbEnv, []string{"migrate"}), out.String())
	require.NoError(t, Run(ctx, dbEnv, []string{"user", "create", "--name", "Ayu", "--email", "ayu@example.com", "--password-stdin"}), out.String())
	db, err := dbEnv.OpenDB(ctx)
	require.NoError(t, err)

	env := &Env{Stdout: out, Stderr: out, Cfg: cfg}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(serveCtx, env, []string{"serve", "--addr", addr, "--no-scheduler"}) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("serve did not stop")
		}
		env.closeAll()
	})
	// A generous timeout: under -race on a loaded machine, 40 logins at
	// once queue for SQLite's one writer and a few bcrypt checks.
	client := &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	waitServeUp(t, client, "http://"+addr, done, out)
	return &accountServe{base: "http://" + addr, db: db, api: &flowClient{t: t, c: client, base: "http://" + addr}}
}

// parallelLogins sends n logins with a wrong password for one account at
// once and counts the answers by status.
func (s *accountServe) parallelLogins(t *testing.T, email string, n int) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.api.c.Post(s.base+"/api/login", "application/json",
				strings.NewReader(`{"email":"`+email+`","password":"wrong-password"}`))
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			counts[res.StatusCode]++
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}()
	}
	wg.Wait()
	return counts
}

func awayFromMinuteEdge() {
	if left := time.Minute - time.Duration(time.Now().UnixNano()%int64(time.Minute)); left < 20*time.Second {
		time.Sleep(left + time.Second)
	}
}

// TestServeLoginThrottle: under serve, 40 parallel wrong passwords for one
// account give at most 5 × 401 and 429 for the rest, on every database,
// with the counters in queue_rate_limits.
func TestServeLoginThrottle(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			s := startAccountServe(t, d, nil)
			awayFromMinuteEdge()
			counts := s.parallelLogins(t, "ayu@example.com", 40)
			t.Logf("40 parallel wrong passwords: %d × 401, %d × 429", counts[401], counts[429])
			require.Equal(t, 40, counts[401]+counts[429], "%v", counts)
			require.LessOrEqual(t, counts[401], 5, "%v", counts)
			require.GreaterOrEqual(t, counts[401], 1, "%v", counts)
			var rows int
			require.NoError(t, s.db.QueryRowContext(context.Background(),
				"SELECT COUNT(*) FROM queue_rate_limits WHERE name LIKE 'auth:login:%'").Scan(&rows))
			require.Equal(t, 2, rows, "the account's counter and the address's")
		})
	}
}

// TestServeLoginThrottleRedis: with QUEUE_CONNECTION=redis the counters
// are keys in Redis with a TTL, and the limit holds the same way.
func TestServeLoginThrottleRedis(t *testing.T) {
	url, prefix, rdb := redisTestPrefix(t)
	s := startAccountServe(t, store.SQLite, map[string]string{"QUEUE_CONNECTION": "redis", "REDIS_URL": url, "REDIS_QUEUE_PREFIX": prefix})
	awayFromMinuteEdge()
	counts := s.parallelLogins(t, "ayu@example.com", 40)
	t.Logf("40 parallel wrong passwords: %d × 401, %d × 429", counts[401], counts[429])
	require.Equal(t, 40, counts[401]+counts[429], "%v", counts)
	require.LessOrEqual(t, counts[401], 5, "%v", counts)
	require.GreaterOrEqual(t, counts[401], 1, "%v", counts)
	keys := redisKeys(t, rdb, prefix+"rate:auth:login:")
	require.Len(t, keys, 2, "the account's window and the address's")
	for _, k := range keys {
		ttl, err := rdb.TTL(context.Background(), k).Result()
		require.NoError(t, err)
		require.Positive(t, ttl)
		require.LessOrEqual(t, ttl, 61*time.Second)
	}
	var rows int
	require.NoError(t, s.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM queue_rate_limits").Scan(&rows))
	require.Zero(t, rows, "nothing counted in SQL")
}

// TestServeTokenExpiry: under serve a token carries AUTH_TOKEN_TTL from
// its login and stops working once that has passed; logout revokes it,
// logout-all revokes every one.
func TestServeTokenExpiry(t *testing.T) {
	s := startAccountServe(t, store.SQLite, map[string]string{"AUTH_TOKEN_TTL": "45m"})
	ctx := context.Background()
	login := func() string {
		var out struct {
			Token string `json:"token"`
		}
		s.api.token = ""
		s.api.do("POST", "/api/login", map[string]string{"email": "ayu@example.com", "password": "rahasia-123"}, nil, http.StatusOK, &out)
		return out.Token
	}
	me := func(tok string, status int) {
		t.Helper()
		s.api.token = tok
		s.api.do("GET", "/api/me", nil, nil, status, nil)
	}
	t1, t2, t3 := login(), login(), login()
	var created, expires time.Time
	require.NoError(t, s.db.QueryRowContext(ctx, "SELECT created_at, expires_at FROM personal_access_tokens WHERE token = ?",
		booking.HashToken(t1)).Scan(&created, &expires))
	require.Equal(t, 45*time.Minute, expires.Sub(created))
	me(t1, http.StatusOK)
	// The lifetime passes.
	_, err := s.db.ExecContext(ctx, "UPDATE personal_access_tokens SET expires_at = ? WHERE token = ?",
		time.Now().UTC().Add(-time.Second), booking.HashToken(t1))
	require.NoError(t, err)
	me(t1, http.StatusUnauthorized)

	s.api.token = t2
	s.api.do("POST", "/api/logout", nil, nil, http.StatusOK, nil)
	me(t2, http.StatusUnauthorized)
	me(t3, http.StatusOK)
	t4 := login()
	s.api.token = t3
	s.api.do("POST", "/api/logout-all", nil, nil, http.StatusOK, nil)
	me(t3, http.StatusUnauthorized)
	me(t4, http.StatusUnauthorized)
}
