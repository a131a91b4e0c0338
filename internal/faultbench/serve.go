package faultbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
)

// The demo accounts `tripin db seed` creates.
const (
	demoAdmin    = "admin@tripin.test"
	demoCustomer = "demo@tripin.test"
	demoPassword = "password"
)

// app is a running `tripin serve` (embedded worker and scheduler on) on
// an instance, with a customer's token and a tour to book.
type app struct {
	srv    *server
	base   string
	client *http.Client
	token  string
	tour   int64
}

func (in *instance) startApp(ctx context.Context, lease int, logFile string) (*app, error) {
	if out, err := in.command(ctx, "db", "seed"); err != nil {
		return nil, fmt.Errorf("tripin db seed: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// APP_ENV=local: the Midtrans simulator instead of a server key.
	env := append(in.env(lease), "LOG_FILE="+logFile, "APP_ENV=local")
	srv, err := startServer(filepath.Join(in.logDir, "serve.out"), env, in.dir, nil, in.o.Bin, "serve", "--addr", addr)
	if err != nil {
		return nil, err
	}
	a := &app{srv: srv, base: "http://" + addr, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
	err = waitUntil(ctx, 2*time.Minute, "tripin serve to answer /healthz", func() (bool, error) {
		if srv.exited() {
			return false, fatal{fmt.Errorf("tripin serve exited: %s", srv.tail())}
		}
		resp, err := a.client.Get(a.base + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		a.stop()
		return nil, err
	}
	admin, err := a.login(ctx, demoAdmin)
	if err != nil {
		a.stop()
		return nil, err
	}
	var tour struct {
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	body := map[string]any{"title": "Fault bench tour", "destination": "Bali",
		"departure_date": time.Now().AddDate(0, 2, 0).Format(booking.DateLayout), "price": 1_000_000,
		"capacity": booking.MaxTourCapacity}
	if st, raw, err := a.post(ctx, "/api/admin/tours", admin, body, &tour); err != nil || st != http.StatusCreated {
		a.stop()
		return nil, fmt.Errorf("create a tour: %d %v %s", st, err, raw)
	}
	a.tour = tour.Data.ID
	if a.token, err = a.login(ctx, demoCustomer); err != nil {
		a.stop()
		return nil, err
	}
	return a, nil
}

func (a *app) stop() { a.srv.stop(syscall.SIGTERM, time.Minute) }

func (a *app) login(ctx context.Context, email string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	st, raw, err := a.post(ctx, "/api/login", "", map[string]string{"email": email, "password": demoPassword}, &out)
	if err != nil || st != http.StatusOK || out.Token == "" {
		return "", fmt.Errorf("log in as %s: %d %v %s", email, st, err, raw)
	}
	return out.Token, nil
}

// post sends a JSON request and decodes a 2xx answer into out; it returns
// the status and the raw answer.
func (a *app) post(ctx context.Context, path, token string, body, out any) (int, string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", a.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, string(raw), err
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(raw)), nil
}

// book books one seat; it returns the status and the answer.
func (a *app) book(ctx context.Context) (int, string, error) {
	return a.post(ctx, "/api/bookings", a.token, map[string]any{"tour_id": a.tour, "quantity": 1}, nil)
}

// bookingLoad books from n clients until ctx ends and counts the answers.
type bookingLoad struct {
	mu      sync.Mutex
	created int
	refused int
	errors  int
	first   string
}

func (a *app) load(ctx context.Context, clients int) *bookingLoad {
	l := &bookingLoad{}
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				st, raw, err := a.book(ctx)
				l.mu.Lock()
				switch {
				case err != nil:
					if ctx.Err() == nil {
						l.errors++
					}
				case st == http.StatusCreated:
					l.created++
				default:
					l.refused++
					if l.first == "" {
						l.first = fmt.Sprintf("%d %s", st, raw)
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	return l
}

// consistency checks that bookings, seats and invoice jobs agree: the
// tour's taken seats are the active bookings' seats, and every booking
// has its invoice accounted for (sent, queued or failed). It returns the
// bookings found and the ones whose invoice is missing.
func (in *instance) consistency(ctx context.Context, tour int64) (bookings, missing int, err error) {
	var capacity, quota, taken int
	if err := in.db.QueryRowContext(ctx, in.db.Rebind("SELECT capacity, quota FROM tours WHERE id = ?"), tour).Scan(&capacity, &quota); err != nil {
		return 0, 0, err
	}
	if err := in.db.QueryRowContext(ctx, in.db.Rebind("SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM bookings WHERE tour_id = ? AND status IN ('pending', 'paid')"), tour).Scan(&bookings, &taken); err != nil {
		return 0, 0, err
	}
	if capacity-quota != taken {
		return bookings, 0, fmt.Errorf("seats disagree: the tour has %d of %d seats taken, its active bookings hold %d", capacity-quota, capacity, taken)
	}
	ids := map[int64]bool{}
	if err := in.addIDs(ctx, ids, in.db.Rebind("SELECT id FROM bookings WHERE tour_id = ?"), tour); err != nil {
		return 0, 0, err
	}
	accounted := map[int64]bool{}
	// An invoice job leaves jobs only after its email is recorded in
	// sent_emails, or in the same transaction that moves it to
	// failed_jobs. Reading jobs first, then failed_jobs, then sent_emails
	// sees an invoice still being sent in at least one of them.
	re := regexp.MustCompile(`\\?"booking_id\\?":(\d+)`)
	for _, q := range []string{"SELECT payload FROM jobs", "SELECT payload FROM failed_jobs"} {
		if q == "SELECT payload FROM jobs" && in.rdb != nil {
			continue // Redis holds that backend's jobs; waitInvoices has let its invoices be sent
		}
		rows, err := in.db.QueryContext(ctx, q)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return 0, 0, err
			}
			if !strings.Contains(p, "SendInvoiceEmail") {
				continue
			}
			for _, m := range re.FindAllStringSubmatch(p, -1) {
				id, _ := strconv.ParseInt(m[1], 10, 64)
				accounted[id] = true
			}
		}
		rows.Close()
	}
	if err := in.addIDs(ctx, accounted, "SELECT booking_id FROM sent_emails WHERE kind = 'invoice'"); err != nil {
		return 0, 0, err
	}
	for id := range ids {
		if !accounted[id] {
			missing++
		}
	}
	return len(ids), missing, nil
}

// addIDs adds to set the ids query returns.
func (in *instance) addIDs(ctx context.Context, set map[int64]bool, query string, args ...any) error {
	rows, err := in.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		set[id] = true
	}
	return rows.Err()
}
