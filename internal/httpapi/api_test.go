package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// api is a real HTTP server over a fresh database of one dialect.
type api struct {
	t      *testing.T
	url    string
	db     *store.DB
	svc    *booking.Service
	acc    *booking.Accounts
	logs   *syncBuffer
	client *http.Client
	loc    *time.Location
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newAPI(t *testing.T, d store.Dialect, mount func(*http.ServeMux, *httpapi.Server)) *api {
	t.Helper()
	return newAPIWith(t, d, nil, mount)
}

// newAPIWith is newAPI with configuration values of its own.
func newAPIWith(t *testing.T, d store.Dialect, vals map[string]string, mount func(*http.ServeMux, *httpapi.Server)) *api {
	t.Helper()
	all := map[string]string{
		"APP_ENV": "testing", "BOOKING_MAX_QUANTITY": "5", "HTTP_MAX_BODY_BYTES": "4096", "LOG_FILE": "",
	}
	for k, v := range vals {
		all[k] = v
	}
	cfg, err := config.FromMap(all)
	require.NoError(t, err)
	db := storetest.Open(t, d)
	svc := booking.NewService(booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(), MaxQuantity: cfg.BookingMaxQuantity,
	})
	acc := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost, TokenTTL: cfg.AuthTokenTTL})
	logs := &syncBuffer{}
	srv := httpapi.New(httpapi.Params{
		Config: cfg, DB: db, Bookings: svc, Accounts: acc, Mount: mount,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, url: ts.URL, db: db, svc: svc, acc: acc, logs: logs, client: &http.Client{Transport: tr}, loc: cfg.AppTimezone}
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r response) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (r response) errCode() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r response) fields() map[string]any {
	e, _ := r.Body["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	return f
}

// do sends a request. body may be a string (sent as is) or any value
// (sent as JSON); headers come in name, value pairs.
func (a *api) do(method, path, token string, body any, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(a.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.client.Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(a.t, err)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 {
		require.NoError(a.t, json.Unmarshal(raw, &out.Body), "body %s", raw)
	}
	return out
}

// user creates an account directly and returns it with a token.
func (a *api) user(email string, admin bool) (*booking.User, string) {
	a.t.Helper()
	u, err := a.acc.CreateUser(context.Background(), booking.NewUser{Name: "User " + email, Email: email, Password: "secret123", IsAdmin: admin})
	require.NoError(a.t, err)
	tok, err := a.acc.IssueToken(context.Background(), u.ID, "test")
	require.NoError(a.t, err)
	return u, tok
}

// day returns the date days from today in APP_TIMEZONE.
func (a *api) day(days int) string {
	return time.Now().In(a.loc).AddDate(0, 0, days).Format(booking.DateLayout)
}

func (a *api) tour(title, destination string, days, capacity int) *booking.Tour {
	a.t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	t := &booking.Tour{Title: title, Destination: destination, DepartureDate: a.day(days), Price: 1_250_000,
		Capacity: capacity, Quota: capacity, CreatedAt: now, UpdatedAt: now}
	require.NoError(a.t, a.db.TourCreate(context.Background(), t))
	return t
}

func (a *api) quota(id int64) int {
	a.t.Helper()
	t, err := a.db.TourGet(context.Background(), id)
	require.NoError(a.t, err)
	return t.Quota
}

func (a *api) requireInvariant() {
	a.t.Helper()
	bad, err := a.db.TourCheckInvariant(context.Background())
	require.NoError(a.t, err)
	require.Empty(a.t, bad)
}

func (a *api) countBookings() int {
	a.t.Helper()
	var n int
	require.NoError(a.t, a.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM bookings").Scan(&n))
	return n
}

func TestAuth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)

		res := a.do("POST", "/api/register", "", map[string]any{"name": "Ayu", "email": "Ayu@Example.com", "password": "rahasia123"})
		require.Equal(t, 201, res.Status, string(res.Raw))
		tok, _ := res.Body["token"].(string)
		require.NotEmpty(t, tok)
		require.Equal(t, "ayu@example.com", res.data()["email"])
		require.Equal(t, false, res.data()["is_admin"])
		require.NotContains(t, string(res.Raw), "password")

		// The token is stored only as its SHA-256.
		var n int
		require.NoError(t, a.db.QueryRowContext(context.Background(), a.db.Rebind("SELECT COUNT(*) FROM personal_access_tokens WHERE token = ?"), booking.HashToken(tok)).Scan(&n))
		require.Equal(t, 1, n)
		require.NoError(t, a.db.QueryRowContext(context.Background(), a.db.Rebind("SELECT COUNT(*) FROM personal_access_tokens WHERE token = ?"), tok).Scan(&n))
		require.Equal(t, 0, n)

		res = a.do("POST", "/api/register", "", map[string]any{"name": "Ayu 2", "email": "ayu@example.com", "password": "rahasia123"})
		require.Equal(t, 422, res.Status)
		require.Contains(t, res.fields(), "email")
		res = a.do("POST", "/api/register", "", map[string]any{"name": "", "email": "not-an-email", "password": "short"})
		require.Equal(t, 422, res.Status)
		require.Len(t, res.fields(), 3)

		res = a.do("GET", "/api/me", tok, nil)
		require.Equal(t, 200, res.Status)
		require.Equal(t, "Ayu", res.data()["name"])

		res = a.do("POST", "/api/login", "", map[string]any{"email": "ayu@example.com", "password": "wrong-password"})
		require.Equal(t, 401, res.Status)
		require.Equal(t, "unauthorized", res.errCode())
		res = a.do("POST", "/api/login", "", map[string]any{"email": "nobody@example.com", "password": "rahasia123"})
		require.Equal(t, 401, res.Status)
		res = a.do("POST", "/api/login", "", map[string]any{"email": "AYU@example.com", "password": "rahasia123"})
		require.Equal(t, 200, res.Status)
		tok2, _ := res.Body["token"].(string)
		require.NotEqual(t, tok, tok2)

		res = a.do("POST", "/api/logout", tok, nil)
		require.Equal(t, 200, res.Status)
		require.Equal(t, 401, a.do("GET", "/api/me", tok, nil).Status)
		require.Equal(t, 200, a.do("GET", "/api/me", tok2, nil).Status)

		for _, bad := range []string{"", "garbage", booking.NewToken(), "trp_" + strings.Repeat("A", 43)} {
			res = a.do("GET", "/api/me", bad, nil)
			require.Equal(t, 401, res.Status, bad)
			require.Equal(t, "unauthorized", res.errCode())
			require.NotEmpty(t, res.Header.Get("WWW-Authenticate"))
		}
		res = a.do("GET", "/api/me", "", nil, "Authorization", "Basic "+tok2)
		require.Equal(t, 401, res.Status)
	})
}

func TestLoginRateLimit(t *testing.T) {
	a := newAPI(t, store.SQLite, nil)
	a.user("rate@example.com", false)
	for i := 0; i < 5; i++ {
		res := a.do("POST", "/api/login", "", map[string]any{"email": "rate@example.com", "password": "wrong-password"})
		require.Equal(t, 401, res.Status, "attempt %d", i)
	}
	res := a.do("POST", "/api/login", "", map[string]any{"email": "rate@example.com", "password": "secret123"})
	require.Equal(t, 429, res.Status, "the right password is refused too once limited")
	require.Equal(t, "rate_limited", res.errCode())
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	// Another email from the same address is counted separately.
	a.user("other@example.com", false)
	res = a.do("POST", "/api/login", "", map[string]any{"email": "other@example.com", "password": "secret123"})
	require.Equal(t, 200, res.Status)
}

func TestTours(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		a.tour("Departed", "Bali", -3, 10)
		a.tour("Today", "Bali", 0, 10)
		ubud := a.tour("Ubud Culture", "Bali", 10, 10)
		komodo := a.tour("Komodo Sailing", "Labuan Bajo", 5, 10)
		bromo := a.tour("Bromo Sunrise", "Bromo", 20, 10)

		res := a.do("GET", "/api/tours", "", nil)
		require.Equal(t, 200, res.Status)
		list := res.Body["data"].([]any)
		require.Len(t, list, 3, "future departures only")
		first := list[0].(map[string]any)
		require.Equal(t, float64(komodo.ID), first["id"])
		for _, k := range []string{"id", "title", "destination", "departure_date", "price", "capacity", "quota"} {
			require.Contains(t, first, k)
		}
		require.Equal(t, komodo.DepartureDate, first["departure_date"])
		meta := res.Body["meta"].(map[string]any)
		require.Equal(t, float64(3), meta["total"])
		require.Equal(t, float64(1), meta["current_page"])

		res = a.do("GET", "/api/tours?destination=BALI", "", nil)
		require.Len(t, res.Body["data"].([]any), 1)
		res = a.do("GET", "/api/tours?date="+bromo.DepartureDate, "", nil)
		require.Len(t, res.Body["data"].([]any), 1)
		require.Equal(t, float64(bromo.ID), res.Body["data"].([]any)[0].(map[string]any)["id"])
		res = a.do("GET", "/api/tours?per_page=2&page=2", "", nil)
		require.Equal(t, 200, res.Status)
		require.Len(t, res.Body["data"].([]any), 1)
		meta = res.Body["meta"].(map[string]any)
		require.Equal(t, float64(2), meta["last_page"])
		require.Equal(t, float64(3), meta["from"])
		require.Equal(t, float64(3), meta["to"])
		require.Equal(t, map[string]any{
			"first": "/api/tours?page=1&per_page=2", "last": "/api/tours?page=2&per_page=2",
			"prev": "/api/tours?page=1&per_page=2", "next": nil,
		}, res.Body["links"], "Laravel's links, with the other query parameters kept")
		res = a.do("GET", "/api/tours?per_page=2&destination=b", "", nil)
		meta = res.Body["meta"].(map[string]any)
		require.Equal(t, []any{float64(1), float64(2)}, []any{meta["from"], meta["to"]})
		require.Equal(t, map[string]any{
			"first": "/api/tours?destination=b&page=1&per_page=2", "last": "/api/tours?destination=b&page=2&per_page=2",
			"prev": nil, "next": "/api/tours?destination=b&page=2&per_page=2",
		}, res.Body["links"])
		// Past the last page: no items, so no positions; prev still leads back.
		res = a.do("GET", "/api/tours?per_page=2&page=5", "", nil)
		require.Equal(t, 200, res.Status)
		require.Empty(t, res.Body["data"])
		meta = res.Body["meta"].(map[string]any)
		require.Nil(t, meta["from"])
		require.Nil(t, meta["to"])
		require.Contains(t, meta, "from")
		require.Equal(t, "/api/tours?page=4&per_page=2", res.Body["links"].(map[string]any)["prev"])
		require.Nil(t, res.Body["links"].(map[string]any)["next"])

		for _, q := range []string{"%27%20OR%201%3D1%20--", "%25", "_", "%5C", "Bali%27%3B%20DROP%20TABLE%20tours%3B--"} {
			res = a.do("GET", "/api/tours?destination="+q, "", nil)
			require.Equal(t, 200, res.Status, q)
			require.Empty(t, res.Body["data"], q)
		}
		res = a.do("GET", "/api/tours?date=2026-13-45&page=zero", "", nil)
		require.Equal(t, 422, res.Status)
		require.Contains(t, res.fields(), "date")
		require.Contains(t, res.fields(), "page")

		res = a.do("GET", fmt.Sprintf("/api/tours/%d", ubud.ID), "", nil)
		require.Equal(t, 200, res.Status)
		require.Equal(t, "Ubud Culture", res.data()["title"])
		require.Equal(t, 404, a.do("GET", "/api/tours/999999", "", nil).Status)
		require.Equal(t, 404, a.do("GET", "/api/tours/abc", "", nil).Status)
		require.Equal(t, 6, a.quota(ubud.ID)+a.quota(komodo.ID)-14, "listing changed nothing")
	})
}

func TestAdminTours(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		_, admin := a.user("admin@example.com", true)
		_, cust := a.user("cust@example.com", false)
		body := map[string]any{"title": "Raja Ampat Diving", "destination": "Raja Ampat", "departure_date": a.day(30),
			"price": 12_500_000, "capacity": 12}

		require.Equal(t, 401, a.do("POST", "/api/admin/tours", "", body).Status)
		res := a.do("POST", "/api/admin/tours", cust, body)
		require.Equal(t, 403, res.Status)
		require.Equal(t, "forbidden", res.errCode())

		res = a.do("POST", "/api/admin/tours", admin, body)
		require.Equal(t, 201, res.Status, string(res.Raw))
		id := int64(res.data()["id"].(float64))
		require.Equal(t, float64(12), res.data()["quota"])

		res = a.do("POST", "/api/admin/tours", admin, map[string]any{"title": "x"})
		require.Equal(t, 422, res.Status)
		for _, f := range []string{"destination", "departure_date", "price", "capacity"} {
			require.Contains(t, res.fields(), f)
		}
		res = a.do("POST", "/api/admin/tours", admin, `{"title":"t","destination":"d","departure_date":"`+a.day(3)+`","price":1,"capacity":5,"quota":99}`)
		require.Equal(t, 422, res.Status)
		require.Contains(t, res.fields(), "quota")
		res = a.do("POST", "/api/admin/tours", admin, map[string]any{"title": "t", "destination": "d", "departure_date": a.day(-1), "price": -1, "capacity": 0})
		require.Equal(t, 422, res.Status)
		require.Len(t, res.fields(), 3)
		// A tour with a price of 0 is refused: its bookings could never be
		// paid, so they would only hold seats.
		var tours int
		require.NoError(t, a.db.QueryRow("SELECT COUNT(*) FROM tours").Scan(&tours))
		res = a.do("POST", "/api/admin/tours", admin, map[string]any{"title": "Free walk", "destination": "d", "departure_date": a.day(3), "price": 0, "capacity": 5})
		require.Equal(t, 422, res.Status, string(res.Raw))
		require.Len(t, res.fields(), 1)
		require.Contains(t, res.fields()["price"], "price of 0")
		var after int
		require.NoError(t, a.db.QueryRow("SELECT COUNT(*) FROM tours").Scan(&after))
		require.Equal(t, tours, after, "nothing was created")
		require.Equal(t, 422, a.do("PUT", fmt.Sprintf("/api/admin/tours/%d", id), admin, map[string]any{"price": 0}).Status)

		res = a.do("PUT", fmt.Sprintf("/api/admin/tours/%d", id), admin, map[string]any{"capacity": 20, "price": 13_000_000})
		require.Equal(t, 200, res.Status, string(res.Raw))
		require.Equal(t, float64(20), res.data()["capacity"])
		require.Equal(t, float64(20), res.data()["quota"])
		require.Equal(t, "Raja Ampat Diving", res.data()["title"])
		require.Equal(t, 404, a.do("PUT", "/api/admin/tours/999999", admin, map[string]any{"price": 1}).Status)

		res = a.do("POST", "/api/bookings", cust, map[string]any{"tour_id": id, "quantity": 3})
		require.Equal(t, 201, res.Status)
		res = a.do("PUT", fmt.Sprintf("/api/admin/tours/%d", id), admin, map[string]any{"capacity": 2})
		require.Equal(t, 422, res.Status)
		require.Contains(t, res.fields(), "capacity")
		res = a.do("DELETE", fmt.Sprintf("/api/admin/tours/%d", id), admin, nil)
		require.Equal(t, 409, res.Status)
		a.requireInvariant()

		other := a.tour("Empty", "Belitung", 9, 4)
		res = a.do("DELETE", fmt.Sprintf("/api/admin/tours/%d", other.ID), cust, nil)
		require.Equal(t, 403, res.Status)
		res = a.do("DELETE", fmt.Sprintf("/api/admin/tours/%d", other.ID), admin, nil)
		require.Equal(t, 204, res.Status)
		require.Equal(t, 404, a.do("GET", fmt.Sprintf("/api/tours/%d", other.ID), "", nil).Status)

		past := a.tour("Past", "Bali", -10, 4)
		res = a.do("GET", "/api/admin/tours", admin, nil)
		require.Equal(t, 200, res.Status)
		require.Equal(t, float64(2), res.Body["meta"].(map[string]any)["total"])
		require.Equal(t, float64(past.ID), res.Body["data"].([]any)[0].(map[string]any)["id"])
	})
}

func TestBookings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		owner, tok := a.user("owner@example.com", false)
		_, other := a.user("other@example.com", false)
		_, admin := a.user("admin@example.com", true)
		tour := a.tour("Lombok Gili", "Lombok", 7, 6)
		departed := a.tour("Gone", "Lombok", 0, 6)

		start := time.Now()
		res := a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 2})
		require.Equal(t, 201, res.Status, string(res.Raw))
		b := res.data()
		require.Equal(t, "pending", b["status"])
		require.True(t, booking.ValidCode(b["code"].(string)), b["code"])
		require.Equal(t, float64(2_500_000), b["total_amount"])
		require.Equal(t, float64(tour.ID), b["tour_id"])
		require.Equal(t, float64(owner.ID), b["user_id"])
		require.Nil(t, b["paid_at"])
		for _, k := range []string{"id", "code", "status", "tour_id", "quantity", "total_amount", "expires_at", "paid_at", "created_at"} {
			require.Contains(t, b, k)
		}
		exp, err := time.Parse(time.RFC3339Nano, b["expires_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, start.Add(30*time.Minute), exp, 5*time.Second)
		id := int64(b["id"].(float64))
		require.Equal(t, 4, a.quota(tour.ID))

		for _, q := range []any{0, 6, -1} {
			res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": q})
			require.Equal(t, 422, res.Status, "quantity %v", q)
			require.Contains(t, res.fields(), "quantity")
		}
		res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": 999999, "quantity": 1})
		require.Equal(t, 404, res.Status)
		res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": departed.ID, "quantity": 1})
		require.Equal(t, 404, res.Status)
		res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 5})
		require.Equal(t, 409, res.Status)
		require.Equal(t, "sold_out", res.errCode())
		require.Equal(t, 4, a.quota(tour.ID))
		require.Equal(t, 401, a.do("POST", "/api/bookings", "", map[string]any{"tour_id": tour.ID, "quantity": 1}).Status)

		res = a.do("GET", "/api/bookings", tok, nil)
		require.Equal(t, 200, res.Status)
		require.Len(t, res.Body["data"].([]any), 1)
		require.Equal(t, float64(1), res.Body["meta"].(map[string]any)["total"])
		res = a.do("GET", "/api/bookings", other, nil)
		require.Empty(t, res.Body["data"])

		path := fmt.Sprintf("/api/bookings/%d", id)
		require.Equal(t, 200, a.do("GET", path, tok, nil).Status)
		require.Equal(t, 200, a.do("GET", path, admin, nil).Status)
		res = a.do("GET", path, other, nil)
		require.Equal(t, 404, res.Status)
		require.Equal(t, "not_found", res.errCode())
		require.Equal(t, 404, a.do("POST", path+"/cancel", other, nil).Status)
		require.Equal(t, 404, a.do("GET", "/api/bookings/999999", tok, nil).Status)
		require.Equal(t, 404, a.do("GET", "/api/bookings/1%20OR%201=1", tok, nil).Status)
		require.Equal(t, 4, a.quota(tour.ID))

		res = a.do("POST", path+"/cancel", tok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		require.Equal(t, "cancelled", res.data()["status"])
		require.Equal(t, 6, a.quota(tour.ID))
		res = a.do("POST", path+"/cancel", tok, nil)
		require.Equal(t, 409, res.Status)
		require.Equal(t, 6, a.quota(tour.ID))
		a.requireInvariant()
	})
}

func TestBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		_, tok := a.user("bad@example.com", false)
		tour := a.tour("Yogyakarta", "Yogyakarta", 3, 10)
		tid := fmt.Sprint(tour.ID)
		cases := []struct {
			name   string
			body   string
			status int
			code   string
			field  string
		}{
			{"malformed", `{"tour_id": ` + tid + `, "quantity": }`, 400, "malformed", ""},
			{"truncated", `{"tour_id": ` + tid, 400, "malformed", ""},
			{"empty", ``, 400, "malformed", ""},
			{"array", `[1,2]`, 400, "malformed", ""},
			{"string", `"book me"`, 400, "malformed", ""},
			{"two objects", `{"tour_id":` + tid + `,"quantity":1}{"tour_id":` + tid + `,"quantity":1}`, 400, "malformed", ""},
			{"quantity as string", `{"tour_id": ` + tid + `, "quantity": "2"}`, 422, "invalid", "quantity"},
			{"quantity as float", `{"tour_id": ` + tid + `, "quantity": 1.5}`, 422, "invalid", "quantity"},
			{"huge quantity", `{"tour_id": ` + tid + `, "quantity": 1e40}`, 422, "invalid", "quantity"},
			{"tour_id as object", `{"tour_id": {"$gt": 0}, "quantity": 1}`, 422, "invalid", "tour_id"},
			{"unknown field", `{"tour_id": ` + tid + `, "quantity": 1, "price": 1}`, 422, "invalid", "price"},
			{"missing tour", `{"quantity": 1}`, 422, "invalid", "tour_id"},
			{"sql in id", `{"tour_id": "1; DROP TABLE tours", "quantity": 1}`, 422, "invalid", "tour_id"},
			{"oversized", `{"tour_id": ` + tid + `, "quantity": 1, "x": "` + strings.Repeat("a", 5000) + `"}`, 413, "too_large", ""},
		}
		for _, c := range cases {
			res := a.do("POST", "/api/bookings", tok, c.body)
			require.Equal(t, c.status, res.Status, "%s: %s", c.name, res.Raw)
			require.Equal(t, c.code, res.errCode(), c.name)
			require.NotEmpty(t, res.Body["error"].(map[string]any)["message"], c.name)
			if c.field != "" {
				require.Contains(t, res.fields(), c.field, c.name)
			}
		}
		// A chunked body (no Content-Length) over the limit is cut off too.
		req, err := http.NewRequest("POST", a.url+"/api/bookings", io.MultiReader(strings.NewReader(`{"tour_id":`+tid+`,"quantity":1,"x":"`), strings.NewReader(strings.Repeat("b", 10000)+`"}`)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := a.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 413, resp.StatusCode)

		require.Equal(t, 10, a.quota(tour.ID), "bad input changed nothing")
		require.Equal(t, 0, a.countBookings())

		res := a.do("GET", "/api/nope", "", nil)
		require.Equal(t, 404, res.Status)
		require.Equal(t, "not_found", res.errCode())
		res = a.do("DELETE", "/api/tours", "", nil)
		require.Equal(t, 405, res.Status)
		require.Contains(t, res.Header.Get("Allow"), "GET")
		require.NotEmpty(t, res.errCode())
		res = a.do("POST", "/api/login", "", `{"email": 5}`)
		require.Equal(t, 422, res.Status)
	})
}

func TestIdempotentReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		_, tok := a.user("idem@example.com", false)
		_, other := a.user("idem2@example.com", false)
		tour := a.tour("Bali", "Bali", 4, 30)
		body := map[string]any{"tour_id": tour.ID, "quantity": 2}

		first := a.do("POST", "/api/bookings", tok, body, "Idempotency-Key", "order-1")
		require.Equal(t, 201, first.Status)
		require.Empty(t, first.Header.Get("Idempotent-Replayed"))
		again := a.do("POST", "/api/bookings", tok, `{ "quantity": 2, "tour_id": `+fmt.Sprint(tour.ID)+` }`, "Idempotency-Key", "order-1")
		require.Equal(t, 201, again.Status)
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.JSONEq(t, string(first.Raw), string(again.Raw))
		require.Equal(t, 28, a.quota(tour.ID))
		require.Equal(t, 1, a.countBookings())

		// The first answer is replayed even after the booking changed.
		id := int64(first.data()["id"].(float64))
		require.Equal(t, 200, a.do("POST", fmt.Sprintf("/api/bookings/%d/cancel", id), tok, nil).Status)
		again = a.do("POST", "/api/bookings", tok, body, "Idempotency-Key", "order-1")
		require.JSONEq(t, string(first.Raw), string(again.Raw))
		require.Equal(t, 30, a.quota(tour.ID))

		res := a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 3}, "Idempotency-Key", "order-1")
		require.Equal(t, 422, res.Status)
		require.Contains(t, res.fields(), "Idempotency-Key")

		// Keys belong to their user.
		res = a.do("POST", "/api/bookings", other, body, "Idempotency-Key", "order-1")
		require.Equal(t, 201, res.Status)
		require.NotEqual(t, first.data()["id"], res.data()["id"])
		require.Equal(t, 422, a.do("POST", "/api/bookings", tok, body, "Idempotency-Key", strings.Repeat("k", 300)).Status)

		// Concurrent retries with one key book once.
		var wg sync.WaitGroup
		results := make([]response, 20)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = a.do("POST", "/api/bookings", tok, body, "Idempotency-Key", "burst")
			}()
		}
		wg.Wait()
		for _, r := range results {
			require.Equal(t, 201, r.Status, string(r.Raw))
			require.Equal(t, results[0].data()["id"], r.data()["id"])
		}
		require.Equal(t, 3, a.countBookings())
		require.Equal(t, 26, a.quota(tour.ID))
		a.requireInvariant()
	})
}

// TestConcurrentBookings sends 500 concurrent booking requests (1–3 seats
// each) for 50 seats: exactly 50 seats sell, the rest get 409 sold_out.
func TestConcurrentBookings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, nil)
		tour := a.tour("Raja Ampat", "Raja Ampat", 14, 50)
		tokens := make([]string, 50)
		for i := range tokens {
			_, tokens[i] = a.user(fmt.Sprintf("c%d@example.com", i), false)
		}
		const requests = 500
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			sold, conflicts int
			ready           = make(chan struct{})
		)
		for i := 0; i < requests; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				qty := i%3 + 1
				<-ready
				res := a.do("POST", "/api/bookings", tokens[i%len(tokens)], map[string]any{"tour_id": tour.ID, "quantity": qty})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case res.Status == 201:
					sold += qty
				case res.Status == 409 && res.errCode() == "sold_out":
					conflicts++
				default:
					t.Errorf("unexpected answer %d %s", res.Status, res.Raw)
				}
			}()
		}
		close(ready)
		wg.Wait()
		require.Equal(t, 50, sold)
		require.Equal(t, 0, a.quota(tour.ID))
		require.Greater(t, conflicts, 400)
		var held int
		require.NoError(t, a.db.QueryRowContext(context.Background(), a.db.Rebind(
			"SELECT COALESCE(SUM(quantity), 0) FROM bookings WHERE tour_id = ? AND status IN ('pending', 'paid')"), tour.ID).Scan(&held))
		require.Equal(t, 50, held)
		a.requireInvariant()
	})
}

func TestHealthAndMiddleware(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newAPI(t, d, func(mux *http.ServeMux, s *httpapi.Server) {
			mux.HandleFunc("GET /test/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom: secret detail") })
			mux.HandleFunc("GET /test/fail", func(w http.ResponseWriter, r *http.Request) {
				s.WriteError(w, r, fmt.Errorf("store: dial tcp 10.0.0.5:3306: password=hunter2"))
			})
			mux.Handle("GET /test/me", s.RequireUser(func(w http.ResponseWriter, r *http.Request) {
				u, _ := httpapi.UserFrom(r.Context())
				httpapi.WriteData(w, 200, map[string]any{"mounted": true, "user": u.Email})
			}))
		})
		res := a.do("GET", "/healthz", "", nil)
		require.Equal(t, 200, res.Status)
		require.Equal(t, "ok", res.data()["status"])
		res = a.do("GET", "/readyz", "", nil)
		require.Equal(t, 200, res.Status, string(res.Raw))

		rid := res.Header.Get("X-Request-ID")
		require.Len(t, rid, 24)
		res = a.do("GET", "/healthz", "", nil, "X-Request-ID", "trace-abc.123")
		require.Equal(t, "trace-abc.123", res.Header.Get("X-Request-ID"))
		res = a.do("GET", "/healthz", "", nil, "X-Request-ID", "bad id\twith junk")
		require.NotEqual(t, "bad id\twith junk", res.Header.Get("X-Request-ID"))
		require.Contains(t, a.logs.String(), `"request_id":"trace-abc.123"`)
		require.Contains(t, a.logs.String(), `"msg":"http request"`)

		res = a.do("GET", "/test/panic", "", nil)
		require.Equal(t, 500, res.Status)
		require.Equal(t, "internal", res.errCode())
		require.NotContains(t, string(res.Raw), "secret")
		res = a.do("GET", "/test/fail", "", nil)
		require.Equal(t, 500, res.Status)
		require.NotContains(t, string(res.Raw), "hunter2")
		require.NotContains(t, string(res.Raw), "10.0.0.5")
		require.Contains(t, a.logs.String(), "panic serving request")

		_, tok := a.user("mount@example.com", false)
		res = a.do("GET", "/test/me", tok, nil)
		require.Equal(t, 200, res.Status)
		require.Equal(t, "mount@example.com", res.data()["user"])
		require.Equal(t, 401, a.do("GET", "/test/me", "", nil).Status)
		require.Contains(t, a.logs.String(), `"user_id":`)
	})
}

func TestReadyzPendingMigrations(t *testing.T) {
	a := newAPI(t, store.SQLite, nil)
	_, err := a.db.ExecContext(context.Background(), "DELETE FROM migrations")
	require.NoError(t, err)
	res := a.do("GET", "/readyz", "", nil)
	require.Equal(t, 503, res.Status)
	require.Equal(t, "unavailable", res.errCode())
	require.Contains(t, res.Body["error"].(map[string]any)["message"], "pending")
}
