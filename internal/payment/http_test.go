package payment

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// testServer mounts the handlers on a mux behind a stand-in for the API's
// RequireUser: the bearer token is the user id, "admin-N" an admin.
func testServer(t *testing.T, f *fixture) *httptest.Server {
	type ctxKey struct{}
	type principal struct {
		id    int64
		admin bool
	}
	h := &Handlers{
		Service: f.svc, Config: f.cfg,
		// Tests name the client's address in a header, to play many.
		ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-Client-IP") },
		User: func(r *http.Request) (int64, bool, bool) {
			p, ok := r.Context().Value(ctxKey{}).(principal)
			return p.id, p.admin, ok
		},
	}
	requireUser := func(next http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			admin := strings.HasPrefix(tok, "admin-")
			id, err := strconv.ParseInt(strings.TrimPrefix(tok, "admin-"), 10, 64)
			if err != nil {
				h.writeError(w, r, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated."))
				return
			}
			next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, principal{id, admin})))
		})
	}
	mux := http.NewServeMux()
	h.Mount(mux, requireUser)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type apiAnswer struct {
	Status int
	Body   string
	Data   map[string]any
	Error  struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	}
}

func call(t *testing.T, method, u, token, body string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := apiAnswer{Status: res.StatusCode, Body: string(b)}
	var env struct {
		Data  map[string]any  `json:"data"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil {
		a.Data = env.Data
		if env.Error != nil {
			require.NoError(t, json.Unmarshal(env.Error, &a.Error))
		}
	}
	return a
}

func TestCallbackHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	srv := testServer(t, f)
	user := f.user(t)
	id, code := f.booking(t, f.tour(t, 10), user, 2, booking.StatusPending, false)
	cb := srv.URL + "/api/midtrans/callback"

	a := call(t, "POST", cb, "", `{"order_id":`)
	require.Equal(t, 400, a.Status)
	require.Equal(t, "malformed", a.Error.Code)
	require.NotNil(t, a.Error.Fields)

	forged := strings.Replace(string(signed(code, 300000, "settlement", "")), `"signature_key":"`, `"signature_key":"ff`, 1)
	a = call(t, "POST", cb, "", forged)
	require.Equal(t, 403, a.Status)
	require.Equal(t, "forbidden", a.Error.Code)

	a = call(t, "POST", cb, "", string(signed("TRP-UNKNOWN", 300000, "settlement", "")))
	require.Equal(t, 404, a.Status)

	a = call(t, "POST", cb, "", string(signed(code, 1, "settlement", "")))
	require.Equal(t, 422, a.Status)

	a = call(t, "POST", cb, "", strings.Repeat(" ", 70<<10))
	require.Equal(t, 413, a.Status)

	start := time.Now()
	a = call(t, "POST", cb, "", string(f.notify(code, 300000, "settlement", "")))
	elapsed := time.Since(start)
	require.Equal(t, 200, a.Status, a.Body)
	require.Equal(t, "paid", a.Data["outcome"])
	require.Equal(t, booking.StatusPaid, f.state(t, id).Status)
	t.Logf("callback answered in %v", elapsed)

	// Notifications delivered by the fake Midtrans itself.
	id2, code2 := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	p, err := f.svc.Pay(context.Background(), id2, user)
	require.NoError(t, err)
	require.NotEmpty(t, p.Token)
	status, err := f.fake.Notify(context.Background(), cb, code2, "settlement", "")
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.Equal(t, booking.StatusPaid, f.state(t, id2).Status)
}

func TestPayAndTicketHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite, withEnv("PAYMENT_SIMULATOR", "true"))
	srv := testServer(t, f)
	user := f.user(t)
	id, code := f.booking(t, f.tour(t, 10), user, 2, booking.StatusPending, false)
	uid := strconv.FormatInt(user, 10)
	bid := strconv.FormatInt(id, 10)

	a := call(t, "POST", srv.URL+"/api/bookings/"+bid+"/pay", "", "")
	require.Equal(t, 401, a.Status)
	a = call(t, "POST", srv.URL+"/api/bookings/"+bid+"/pay", "999", "")
	require.Equal(t, 404, a.Status)
	a = call(t, "POST", srv.URL+"/api/bookings/abc/pay", uid, "")
	require.Equal(t, 404, a.Status)
	a = call(t, "POST", srv.URL+"/api/bookings/"+bid+"/pay", uid, "")
	require.Equal(t, 200, a.Status, a.Body)
	token := a.Data["token"]
	require.NotEmpty(t, token)
	require.NotEmpty(t, a.Data["redirect_url"])
	a = call(t, "POST", srv.URL+"/api/bookings/"+bid+"/pay", uid, "")
	require.Equal(t, token, a.Data["token"])

	// No ticket before payment.
	a = call(t, "GET", srv.URL+"/api/bookings/"+bid+"/ticket", uid, "")
	require.Equal(t, 409, a.Status)

	_, err := f.svc.Simulate(context.Background(), code, "settlement")
	require.NoError(t, err)
	a = call(t, "POST", srv.URL+"/api/bookings/"+bid+"/pay", uid, "")
	require.Equal(t, 409, a.Status, "a paid booking cannot be paid again")

	a = call(t, "GET", srv.URL+"/api/bookings/"+bid+"/ticket", uid, "")
	require.Equal(t, 200, a.Status)
	require.Contains(t, a.Body, code)
	require.Contains(t, a.Body, `src="data:image/png;base64,`)
	require.Contains(t, a.Body, "Rp300.000")
	require.Contains(t, a.Body, "Bromo Sunrise &amp; Madakaripura Waterfall")
	require.Contains(t, a.Body, "<h1>Tripin e-ticket</h1>", "APP_NAME defaults to Tripin")
	require.Contains(t, a.Body, "WIB")
	a = call(t, "GET", srv.URL+"/api/bookings/"+bid+"/ticket", "999", "")
	require.Equal(t, 404, a.Status)
	a = call(t, "GET", srv.URL+"/api/bookings/"+bid+"/ticket", "admin-999", "")
	require.Equal(t, 200, a.Status)
}

// TestSimulatorHTTP: with the simulator on, its API answers the booking's
// owner or an admin, and its page the holder of a signed, unexpired link;
// with it off (production, Midtrans' production endpoints, or staging and
// testing without PAYMENT_SIMULATOR) neither exists, for anyone.
func TestSimulatorHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite, withEnv("PAYMENT_SIMULATOR", "true"), withEnv("APP_URL", "https://tripin.example"))
	srv := testServer(t, f)
	user := f.user(t)
	owner := strconv.FormatInt(user, 10)
	id, code := f.booking(t, f.tour(t, 10), user, 2, booking.StatusPending, false)
	sim := srv.URL + "/api/payments/simulate"

	a := call(t, "POST", sim, "", `{"order_id":"`+code+`","transaction_status":"settlement"}`)
	require.Equal(t, 401, a.Status, "not logged in")
	a = call(t, "POST", sim, strconv.FormatInt(user+1000, 10), `{"order_id":"`+code+`","transaction_status":"settlement"}`)
	require.Equal(t, 404, a.Status, "someone else's booking")
	a = call(t, "POST", sim, owner, `{"order_id":"`+code+`","transaction_status":"nonsense"}`)
	require.Equal(t, 422, a.Status)
	require.Contains(t, a.Error.Fields, "transaction_status")
	a = call(t, "POST", sim, owner, `{"order_id":1}`)
	require.Equal(t, 400, a.Status)
	a = call(t, "POST", sim, owner, `{"order_id":"TRP-NONE","transaction_status":"settlement"}`)
	require.Equal(t, 404, a.Status)
	require.Equal(t, booking.StatusPending, f.state(t, id).Status)

	// The page opens from its signed link only.
	link, err := url.Parse(f.svc.SimulatorURL(code, time.Now().Add(30*time.Minute)))
	require.NoError(t, err)
	require.Equal(t, "https://tripin.example/simulator/"+code, link.Scheme+"://"+link.Host+link.Path)
	a = call(t, "GET", srv.URL+link.RequestURI(), "", "")
	require.Equal(t, 200, a.Status, a.Body)
	require.Contains(t, a.Body, code)
	require.Contains(t, a.Body, `value="settlement"`)
	q := link.Query()
	forged := url.Values{"expires": {q.Get("expires")}, "signature": {strings.Repeat("0", len(q.Get("signature")))}}
	later := url.Values{"expires": {strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10)}, "signature": {q.Get("signature")}}
	expired, err := url.Parse(f.svc.SimulatorURL(code, time.Now().Add(-SimulatorLinkGrace-time.Minute)))
	require.NoError(t, err)
	for name, path := range map[string]string{
		"unsigned": "/simulator/" + code, "forged": "/simulator/" + code + "?" + forged.Encode(),
		"stretched": "/simulator/" + code + "?" + later.Encode(), "expired": expired.RequestURI(),
		"another booking's": "/simulator/TRP-NONE?" + q.Encode(),
	} {
		a = call(t, "GET", srv.URL+path, "", "")
		require.Equal(t, 403, a.Status, name)
		require.Equal(t, "forbidden", a.Error.Code, name)
		res, err := http.PostForm(srv.URL+path, url.Values{"transaction_status": {"settlement"}})
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 403, res.StatusCode, name)
	}
	require.Equal(t, booking.StatusPending, f.state(t, id).Status, "no refused link changed the booking")

	// The page's buttons post to its own link and come back to it with the
	// outcome.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.PostForm(srv.URL+link.RequestURI(), url.Values{"transaction_status": {"pending"}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	back := res.Header.Get("Location")
	require.Contains(t, back, "outcome=pending")
	a = call(t, "GET", srv.URL+back, "", "")
	require.Equal(t, 200, a.Status, a.Body)
	require.Contains(t, a.Body, "outcome <b>pending</b>")

	a = call(t, "POST", sim, owner, `{"order_id":"`+code+`","transaction_status":"settlement"}`)
	require.Equal(t, 200, a.Status, a.Body)
	require.Equal(t, "paid", a.Data["outcome"])
	require.Equal(t, booking.StatusPaid, f.state(t, id).Status)
	a = call(t, "POST", sim, "admin-"+strconv.FormatInt(user+1000, 10), `{"order_id":"`+code+`","transaction_status":"settlement"}`)
	require.Equal(t, 200, a.Status, "an admin may simulate any booking")
	require.Equal(t, "duplicate", a.Data["outcome"])

	// Off: neither exists, whoever asks.
	for _, env := range [][2]string{{"APP_ENV", "production"}, {"MIDTRANS_IS_PRODUCTION", "true"}, {"APP_ENV", "staging"}, {"APP_ENV", "testing"}} {
		g := newFixture(t, store.SQLite, withEnv(env[0], env[1]))
		require.False(t, g.cfg.SimulatorEnabled(), env)
		gsrv := testServer(t, g)
		gu := g.user(t)
		_, gcode := g.booking(t, g.tour(t, 10), gu, 1, booking.StatusPending, false)
		for _, tok := range []string{"", strconv.FormatInt(gu, 10), "admin-1"} {
			a = call(t, "POST", gsrv.URL+"/api/payments/simulate", tok, `{"order_id":"`+gcode+`","transaction_status":"settlement"}`)
			require.Equal(t, 404, a.Status, env)
		}
		glink, err := url.Parse(g.svc.SimulatorURL(gcode, time.Now().Add(time.Hour)))
		require.NoError(t, err)
		a = call(t, "GET", gsrv.URL+glink.RequestURI(), "", "")
		require.Equal(t, 404, a.Status, env)
		res, err := http.PostForm(gsrv.URL+glink.RequestURI(), url.Values{"transaction_status": {"settlement"}})
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 404, res.StatusCode)
	}
}

func TestSignedTicketLink(t *testing.T) {
	t.Parallel()
	const appKey = "base64:dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE="
	f := newFixture(t, store.SQLite, withEnv("APP_URL", "https://tripin.example"), withEnv("APP_KEY", appKey))
	srv := testServer(t, f)
	user := f.user(t)
	id, code := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPaid, false)
	other, _ := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPaid, false)
	departure := time.Now().AddDate(0, 0, 3)

	link := f.svc.TicketURL(id, departure)
	require.True(t, strings.HasPrefix(link, "https://tripin.example/api/bookings/"+strconv.FormatInt(id, 10)+"/ticket?"), link)
	u, err := url.Parse(link)
	require.NoError(t, err)
	sig := u.Query().Get("signature")
	require.NotEmpty(t, sig)
	require.NotContains(t, link, testServerKey)
	// The link lasts until the end of the departure day in APP_TIMEZONE.
	y, m, d := departure.Date()
	require.Equal(t, strconv.FormatInt(time.Date(y, m, d+1, 0, 0, 0, 0, f.cfg.AppTimezone).Unix(), 10), u.Query().Get("expires"))

	a := call(t, "GET", srv.URL+u.RequestURI(), "", "")
	require.Equal(t, 200, a.Status, a.Body)
	require.Contains(t, a.Body, code)

	// The signature opens only its own booking, and must be exact.
	otherPath := "/api/bookings/" + strconv.FormatInt(other, 10) + "/ticket?" + u.RawQuery
	require.Equal(t, 404, call(t, "GET", srv.URL+otherPath, "", "").Status)
	bad := strings.Replace(u.RequestURI(), sig, sig[:len(sig)-2]+"00", 1)
	if bad == u.RequestURI() {
		bad = strings.Replace(u.RequestURI(), sig, sig[:len(sig)-2]+"11", 1)
	}
	require.Equal(t, 404, call(t, "GET", srv.URL+bad, "", "").Status)
	idPath := "/api/bookings/" + strconv.FormatInt(id, 10) + "/ticket"
	require.Equal(t, 404, call(t, "GET", srv.URL+idPath+"?signature=zz", "", "").Status)
	require.Equal(t, 404, call(t, "GET", srv.URL+idPath+"?signature="+sig, "", "").Status, "a link without its expiry")
	require.Equal(t, 401, call(t, "GET", srv.URL+idPath, "", "").Status)
	// Moving the expiry later breaks the signature.
	later := u.Query()
	later.Set("expires", strconv.FormatInt(time.Now().AddDate(1, 0, 0).Unix(), 10))
	require.Equal(t, 404, call(t, "GET", srv.URL+idPath+"?"+later.Encode(), "", "").Status)

	// A link to a tour that departed yesterday has expired.
	old, err := url.Parse(f.svc.TicketURL(id, time.Now().AddDate(0, 0, -1)))
	require.NoError(t, err)
	a = call(t, "GET", srv.URL+old.RequestURI(), "", "")
	require.Equal(t, 403, a.Status, a.Body)
	require.Contains(t, a.Body, "expired")

	// Another APP_KEY signs differently; another server key does not
	// matter.
	g := newFixture(t, store.SQLite, withEnv("APP_KEY", "base64:YW5vdGhlciB0ZXN0IGtleSBvZiAzMiBieXRlcyEhISE="))
	require.Error(t, g.svc.CheckTicketLink(id, u.Query()))
	require.NoError(t, f.svc.CheckTicketLink(id, u.Query()))
	h := newFixture(t, store.SQLite, withEnv("APP_KEY", appKey), withEnv("MIDTRANS_SERVER_KEY", "SB-Mid-server-other"))
	require.NoError(t, h.svc.CheckTicketLink(id, u.Query()))
}
