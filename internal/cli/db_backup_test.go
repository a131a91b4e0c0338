package cli

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDBBackupWhileServing backs up the database of a running `tripin
// serve` (its own process, with its worker and scheduler) while a client
// books and cancels seats through the API, and checks every copy: whole,
// with every table, and consistent, each booking with the invoice email
// job inserted in its transaction.
func TestDBBackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	dbPath := filepath.Join(dir, "tripin.db")
	args, err := json.Marshal([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port)})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args), "APP_ENV=local", "DB_CONNECTION=sqlite", "DB_URL=",
		"DB_DATABASE="+dbPath, "LOG_FILE="+filepath.Join(dir, "tripin.log"), "APP_URL="+base, "MAIL_MAILER=log",
		"BOOKING_RATE_LIMIT=0", "BOOKING_MAX_PENDING_PER_USER=0", "LOGIN_RATE_LIMIT=0", "QUEUE_CONNECTION=database")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Tripin is running") {
				once.Do(func() { close(running) })
			}
		}
	}()
	select {
	case <-running:
	case <-time.After(90 * time.Second):
		t.Fatalf("serve did not start: %s", stderr.String())
	}

	token := apiLogin(t, base, "demo@tripin.test", "password")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var booked atomic.Int64
	var bookErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			var b struct {
				Data struct{ ID int64 } `json:"data"`
			}
			status, err := apiCall(ctx, base, token, "POST", "/api/bookings", fmt.Sprintf(`{"tour_id":%d,"quantity":1}`, 1+i%10), fmt.Sprintf("backup-%d", i), &b)
			if ctx.Err() != nil {
				return
			}
			if err != nil || status != http.StatusCreated {
				bookErr = fmt.Errorf("book: %d %v", status, err)
				return
			}
			booked.Add(1)
			// Cancelling gives the seat back, so the tours never sell out.
			status, err = apiCall(ctx, base, token, "POST", fmt.Sprintf("/api/bookings/%d/cancel", b.Data.ID), "", "", nil)
			if ctx.Err() == nil && (err != nil || status != http.StatusOK) {
				bookErr = fmt.Errorf("cancel: %d %v", status, err)
				return
			}
		}
	}()

	run := envFileCLI(t, "APP_ENV=local", "DB_CONNECTION=sqlite", "DB_DATABASE="+dbPath)
	waitUntil(t, 60*time.Second, "bookings", func() bool { return booked.Load() >= 20 })
	first := booked.Load()
	for i := range 3 {
		before := booked.Load()
		path := filepath.Join(t.TempDir(), fmt.Sprintf("tripin-%d.db", i))
		out, errOut, code := run("db", "backup", path)
		require.Equal(t, 0, code, out+errOut)
		require.Contains(t, out, "integrity ok")
		after := booked.Load()
		copyDB, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		require.NoError(t, err)
		var bookings int64
		require.NoError(t, copyDB.QueryRow("SELECT COUNT(*) FROM bookings").Scan(&bookings))
		require.NoError(t, copyDB.Close())
		// Every booking answered before the backup began is in the copy;
		// none is that was not yet written when it ended.
		require.GreaterOrEqual(t, bookings, before)
		require.LessOrEqual(t, bookings, after+1)
	}
	require.Greater(t, booked.Load(), first, "bookings went on during the backups")
	cancel()
	<-done
	require.NoError(t, bookErr)
}

// apiLogin returns an API token.
func apiLogin(t *testing.T, base, email, password string) string {
	t.Helper()
	var res struct {
		Token string `json:"token"`
		Data  struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	status, err := apiCall(context.Background(), base, "", "POST", "/api/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), "", &res)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	if res.Token != "" {
		return res.Token
	}
	require.NotEmpty(t, res.Data.Token)
	return res.Data.Token
}

// apiCall sends one JSON request and decodes the answer into out.
func apiCall(ctx context.Context, base, token, method, path, body, idem string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewBufferString(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return res.StatusCode, err
		}
	}
	return res.StatusCode, nil
}
