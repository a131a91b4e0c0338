package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/httpapi/apidocs"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/internal/telemetry"
)

// undocumentedPrefix is the part of the site the OpenAPI document leaves
// out, as its description says: the dashboard's HTML pages.
const undocumentedPrefix = "/admin"

// loadDocument parses and validates the OpenAPI document the server
// serves.
func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(apidocs.Document())
	require.NoError(t, err)
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.NoError(t, doc.Validate(context.Background()), "the document must be a valid OpenAPI 3.1 document")
	return doc
}

// mountAsServe adds what `tripin serve` mounts beside the API's own
// routes: the payment routes and /metrics (the dashboard, under /admin,
// is left out of the document). h's Service must be set before requests.
func mountAsServe(h *payment.Handlers) func(*http.ServeMux, *httpapi.Server) {
	mountPayments := httpapi.MountPayments(h)
	metrics := telemetry.New(telemetry.Options{})
	return func(mux *http.ServeMux, s *httpapi.Server) {
		mountPayments(mux, s)
		mux.Handle("GET /metrics", metrics.Handler())
	}
}

// routePatterns returns the patterns registered on mux. net/http has no
// way to list them, so this reads the mux's index of patterns through
// reflection; if a new Go release reshapes it, the test fails here, never
// passes without looking.
func routePatterns(t *testing.T, mux *http.ServeMux) []string {
	t.Helper()
	idx := reflect.ValueOf(mux).Elem().FieldByName("index")
	require.True(t, idx.IsValid(), "http.ServeMux has no index field any more: update routePatterns")
	seen := map[string]bool{}
	add := func(pats reflect.Value) {
		for i := 0; i < pats.Len(); i++ {
			str := pats.Index(i).Elem().FieldByName("str")
			require.True(t, str.IsValid(), "http's pattern has no str field any more: update routePatterns")
			seen[str.String()] = true
		}
	}
	segs, multis := idx.FieldByName("segments"), idx.FieldByName("multis")
	require.True(t, segs.IsValid() && multis.IsValid(), "http's routingIndex changed: update routePatterns")
	for it := segs.MapRange(); it.Next(); {
		add(it.Value())
	}
	add(multis)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// documentedRoutes returns the document's operations as ServeMux
// patterns: "GET /api/tours/{id}".
func documentedRoutes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// walkRoutes builds the server as `tripin serve` mounts it and returns
// its mux and its routes as OpenAPI writes them, the dashboard's left out.
func walkRoutes(t *testing.T) (*http.ServeMux, []string) {
	t.Helper()
	var mux *http.ServeMux
	mountPayments := mountAsServe(&payment.Handlers{})
	newAPI(t, store.SQLite, func(m *http.ServeMux, s *httpapi.Server) {
		mux = m
		mountPayments(m, s)
	})
	require.NotNil(t, mux)
	var mounted []string
	for _, p := range routePatterns(t, mux) {
		method, path, ok := strings.Cut(p, " ")
		require.True(t, ok, "route %q has no method: every route names its method", p)
		if path == undocumentedPrefix || strings.HasPrefix(path, undocumentedPrefix+"/") {
			continue
		}
		// "{$}" ends a pattern at its trailing slash, and "{name...}"
		// takes the rest of the path: OpenAPI writes both plainly.
		path = strings.TrimSuffix(path, "{$}")
		path = strings.ReplaceAll(path, "...}", "}")
		mounted = append(mounted, method+" "+path)
	}
	require.Contains(t, mounted, "POST /api/bookings", "the walk must see the API's own routes")
	require.Contains(t, mounted, "POST /api/midtrans/callback", "the walk must see the mounted routes")
	return mux, mounted
}

// TestOpenAPIRoutes walks the server's router and fails when a route is
// missing from the OpenAPI document, or when the document names a route
// the server does not have.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadDocument(t)
	mux, mounted := walkRoutes(t)
	documented := documentedRoutes(doc)

	var missing, extra []string
	for _, r := range mounted {
		if !slices.Contains(documented, r) {
			missing = append(missing, r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(mounted, r) {
			extra = append(extra, r)
		}
	}
	require.Empty(t, missing, "routes the server mounts that internal/httpapi/apidocs/openapi.yaml does not describe")
	require.Empty(t, extra, "routes internal/httpapi/apidocs/openapi.yaml describes that the server does not mount")

	// Each documented path, with its parameters filled in, reaches the
	// route it names: the parameters are spelled as the handlers read them.
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		concrete := path
		for _, p := range []string{"{id}", "{code}", "{file}"} {
			concrete = strings.ReplaceAll(concrete, p, "x1")
		}
		_, pattern := mux.Handler(httptest.NewRequest(method, concrete, nil))
		require.Equal(t, r, pattern, "%s %s", method, concrete)
		op := doc.Paths.Find(path).GetOperation(method)
		require.NotNil(t, op.Responses, r)
		var names []string
		for _, ref := range append(doc.Paths.Find(path).Parameters, op.Parameters...) {
			if ref.Value.In == openapi3.ParameterInPath {
				names = append(names, "{"+ref.Value.Name+"}")
			}
		}
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				require.Contains(t, names, seg, "%s: path parameter %s is not declared", r, seg)
			}
		}
	}
}

// TestOpenAPIServeMounts: the routes that `tripin serve` adds itself, in
// internal/cli, are among those walkRoutes mounts, so that the walk above
// sees the server as it runs. It reads the package's source for
// Handle and HandleFunc calls with a literal pattern.
func TestOpenAPIServeMounts(t *testing.T) {
	_, mounted := walkRoutes(t)
	fset := token.NewFileSet()
	files, err := filepath.Glob("../cli/*.go")
	require.NoError(t, err)
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				p, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				found = append(found, p)
			}
			return true
		})
	}
	require.NotEmpty(t, found, "no route found in internal/cli: has serve's mounting moved?")
	for _, p := range found {
		require.Contains(t, mounted, p, "internal/cli mounts %s: add it to mountAsServe (and to openapi.yaml)", p)
	}
}

// TestOpenAPIServed: the document is served as JSON at /api/openapi.json,
// the same bytes as embedded, with the API's policy; the docs page and
// its assets are served with the page's own policy.
func TestOpenAPIServed(t *testing.T) {
	a := newAPI(t, store.SQLite, nil)
	res, err := a.client.Get(a.url + "/api/openapi.json")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, apidocs.Document(), body)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	require.Equal(t, "3.1.0", doc["openapi"])
	require.Contains(t, string(body[:40]), `{"openapi":"3.1.0","info":`, "keys keep the order of openapi.yaml")

	res, err = a.client.Get(a.url + "/api/docs")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, apidocs.PagePolicy, res.Header.Get("Content-Security-Policy"))
	require.NotContains(t, apidocs.PagePolicy, "unsafe")
	security, err := os.ReadFile("../../docs/SECURITY.md")
	require.NoError(t, err)
	require.Contains(t, string(security), "`"+apidocs.PagePolicy+"`", "docs/SECURITY.md states the docs page's policy")
	require.NotContains(t, string(page), "http", "the page loads nothing from another origin")

	for _, c := range []struct{ file, ctype string }{
		{"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
		{"swagger-ui.css", "text/css; charset=utf-8"},
		{"docs.js", "text/javascript; charset=utf-8"},
	} {
		// The transport asks for gzip and unpacks it.
		res, err := a.client.Get(a.url + "/api/docs/assets/" + c.file)
		require.NoError(t, err)
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode, c.file)
		require.Equal(t, c.ctype, res.Header.Get("Content-Type"))
		require.True(t, res.Uncompressed, "%s was sent gzipped", c.file)
		asset, ok := apidocs.LookupAsset(c.file)
		require.True(t, ok)
		require.Equal(t, asset.Body, got)

		req, _ := http.NewRequest("GET", a.url+"/api/docs/assets/"+c.file, nil)
		req.Header.Set("Accept-Encoding", "identity")
		res, err = a.client.Do(req)
		require.NoError(t, err)
		got, _ = io.ReadAll(res.Body)
		res.Body.Close()
		require.Empty(t, res.Header.Get("Content-Encoding"))
		require.Equal(t, asset.Body, got)
	}
	r := a.do("GET", "/api/docs/assets/..%2fopenapi.yaml", "", nil)
	require.Equal(t, 404, r.Status)
	require.Equal(t, "not_found", r.errCode())
	r = a.do("GET", "/api/docs/assets/LICENSE", "", nil)
	require.Equal(t, 404, r.Status)
}

// contract sends requests to a real server and checks every answer
// against the OpenAPI document with kin-openapi's validator: the status
// must be one the operation lists, and the headers and body must match
// its schema. Requests that should succeed are checked against the
// document too.
type contract struct {
	*api
	doc    *openapi3.T
	router routers.Router
	// seen counts the answers checked, per "METHOD /path status".
	seen map[string]int
}

// The pages and assets are checked as text against their {type: string}.
func init() {
	for _, ct := range []string{"text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

func newContract(t *testing.T, a *api) *contract {
	doc := loadDocument(t)
	// The document's server is "/", this one; the router then matches
	// paths alone.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return &contract{api: a, doc: doc, router: router, seen: map[string]int{}}
}

// call sends a request like api.do, checks the answer has status want,
// and validates it against the document.
func (c *contract) call(want int, method, path, token string, body any, headers ...string) response {
	c.t.Helper()
	var raw []byte
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case form:
		raw, contentType = []byte(b), "application/x-www-form-urlencoded"
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(c.t, err)
	}
	newReq := func(base string) *http.Request {
		req, err := http.NewRequest(method, base+path, bytes.NewReader(raw))
		require.NoError(c.t, err)
		if body != nil {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return req
	}
	client := *c.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(newReq(c.url))
	require.NoError(c.t, err)
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(c.t, err)
	require.Equal(c.t, want, res.StatusCode, "%s %s: %s", method, path, resBody)

	req := newReq("")
	route, params, err := c.router.FindRoute(req)
	require.NoError(c.t, err, "%s %s is not in the document", method, path)
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if want < 300 {
		require.NoError(c.t, openapi3filter.ValidateRequest(ctx, in), "%s %s: the request does not match the document", method, path)
	}
	require.NotNil(c.t, route.Operation.Responses.Status(want),
		"%s %s: status %d is not listed in the document (only under default)", method, route.Path, want)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(resBody)
	require.NoError(c.t, openapi3filter.ValidateResponse(ctx, out), "%s %s → %d: the answer does not match the document: %s", method, path, want, resBody)
	c.seen[fmt.Sprintf("%s %s %d", method, route.Path, want)]++

	r := response{Status: res.StatusCode, Header: res.Header, Raw: resBody}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(resBody) > 0 {
		require.NoError(c.t, json.Unmarshal(resBody, &r.Body))
	}
	return r
}

// form is a body sent as application/x-www-form-urlencoded.
type form string

// newPaymentsAPI is the API as `tripin serve` wires it, with a fake
// Midtrans, the payment simulator, the fair-use limits and vals.
func newPaymentsAPI(t *testing.T, d store.Dialect, vals map[string]string) (*api, *payment.Handlers, *midtranstest.Server) {
	t.Helper()
	const key = "SB-Mid-server-contract-test"
	fake := midtranstest.NewServer(key)
	t.Cleanup(fake.Close)
	all := map[string]string{
		"APP_ENV": "testing", "LOG_FILE": "", "MIDTRANS_SERVER_KEY": key,
		"MIDTRANS_SNAP_URL": fake.URL, "MIDTRANS_API_URL": fake.URL, "PAYMENT_SIMULATOR": "true",
	}
	for k, v := range vals {
		all[k] = v
	}
	pcfg, err := config.FromMap(all)
	require.NoError(t, err)
	h := &payment.Handlers{Config: pcfg}
	a := newFairUseAPIMount(t, d, all, mountAsServe(h))
	h.Service, err = payment.New(payment.Params{DB: a.db, Config: pcfg, Client: fake.Client()})
	require.NoError(t, err)
	return a, h, fake
}

// TestOpenAPIContract runs the end-to-end flow of a customer and an
// administrator — register, log in, list tours, book with an
// Idempotency-Key, read the booking, pay through Midtrans' callback, the
// errors 400/401/403/404/409/413/422/429 on the way — and checks every
// answer against the OpenAPI document. Every operation of the document
// must have been checked at least once.
func TestOpenAPIContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a, h, fake := newPaymentsAPI(t, d, map[string]string{
			"BOOKING_MAX_QUANTITY": "5", "BOOKING_MAX_PENDING_PER_USER": "2", "BOOKING_RATE_LIMIT": "0",
			"LOGIN_RATE_LIMIT": "3", "HTTP_MAX_BODY_BYTES": "4096",
		})
		c := newContract(t, a)

		// Operations.
		c.call(200, "GET", "/healthz", "", nil)
		c.call(200, "GET", "/readyz", "", nil)
		c.call(200, "GET", "/metrics", "", nil)
		c.call(200, "GET", "/api/openapi.json", "", nil)
		c.call(200, "GET", "/api/docs", "", nil)
		c.call(200, "GET", "/api/docs/assets/docs.js", "", nil)
		c.call(404, "GET", "/api/docs/assets/missing.js", "", nil)

		// Accounts.
		reg := c.call(201, "POST", "/api/register", "", map[string]any{
			"name": "Ayu", "email": "ayu@example.com", "password": "rahasia123", "password_confirmation": "rahasia123",
		})
		require.NotEmpty(t, reg.Body["token"])
		res := c.call(422, "POST", "/api/register", "", map[string]any{"name": "Ayu", "email": "ayu@example.com", "password": "rahasia123"})
		require.Contains(t, res.fields(), "email")
		c.call(400, "POST", "/api/register", "", `{"name":`)
		c.call(413, "POST", "/api/register", "", map[string]any{"name": strings.Repeat("x", 5000)})
		res = c.call(200, "POST", "/api/login", "", map[string]any{"email": "ayu@example.com", "password": "rahasia123"})
		tok := res.Body["token"].(string)
		c.call(422, "POST", "/api/login", "", map[string]any{"email": ""})
		for range 3 {
			res = c.call(401, "POST", "/api/login", "", map[string]any{"email": "nobody@example.com", "password": "wrong-password"})
			require.NotEmpty(t, res.Header.Get("WWW-Authenticate"))
		}
		res = c.call(429, "POST", "/api/login", "", map[string]any{"email": "nobody@example.com", "password": "wrong-password"})
		require.Equal(t, "rate_limited", res.errCode())
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		c.call(200, "GET", "/api/me", tok, nil)
		c.call(401, "GET", "/api/me", "", nil)
		c.call(401, "GET", "/api/me", "not-a-token", nil)

		// Tours, as an administrator manages them.
		_, admin := a.user("admin@example.com", true)
		_, other := a.user("budi@example.com", false)
		newTour := map[string]any{
			"title": "Komodo Island Hopping", "destination": "Labuan Bajo", "description": "Three islands.",
			"departure_date": a.day(30), "price": 1_250_000, "capacity": 4,
		}
		c.call(403, "POST", "/api/admin/tours", tok, newTour)
		c.call(401, "POST", "/api/admin/tours", "", newTour)
		res = c.call(201, "POST", "/api/admin/tours", admin, newTour)
		tourID := int64(res.data()["id"].(float64))
		tid := fmt.Sprint(tourID)
		c.call(422, "POST", "/api/admin/tours", admin, map[string]any{"title": "No date"})
		c.call(422, "POST", "/api/admin/tours", admin, map[string]any{"quota": 3})
		c.call(200, "GET", "/api/admin/tours?per_page=1", admin, nil)
		c.call(403, "GET", "/api/admin/tours", tok, nil)
		c.call(200, "GET", "/api/admin/tours/"+tid, admin, nil)
		c.call(404, "GET", "/api/admin/tours/999999", admin, nil)
		c.call(200, "PATCH", "/api/admin/tours/"+tid, admin, map[string]any{"description": "Three islands and a sunset."})
		c.call(200, "PUT", "/api/admin/tours/"+tid, admin, map[string]any{"price": 1_500_000})
		c.call(422, "PUT", "/api/admin/tours/"+tid, admin, map[string]any{"price": 0})
		res = c.call(201, "POST", "/api/admin/tours", admin, newTour)
		spare := int64(res.data()["id"].(float64))

		// Tours, as a customer sees them: a list of two pages.
		res = c.call(200, "GET", "/api/tours?per_page=1", "", nil)
		require.Equal(t, "/api/tours?page=2&per_page=1", res.Body["links"].(map[string]any)["next"])
		c.call(200, "GET", "/api/tours?per_page=1&page=3", "", nil)
		c.call(200, "GET", "/api/tours?destination=labuan&date_from="+a.day(1)+"&date_to="+a.day(60), "", nil)
		c.call(422, "GET", "/api/tours?date=tomorrow", "", nil)
		c.call(422, "GET", "/api/tours?per_page=500", "", nil)
		c.call(200, "GET", "/api/tours/"+tid, "", nil)
		c.call(404, "GET", "/api/tours/999999", "", nil)
		c.call(404, "GET", "/api/tours/abc", "", nil)

		// Booking, with an Idempotency-Key.
		seats := map[string]any{"tour_id": tourID, "quantity": 2}
		res = c.call(201, "POST", "/api/bookings", tok, seats, "Idempotency-Key", "order-1")
		b1 := res.data()
		id1 := fmt.Sprint(int64(b1["id"].(float64)))
		code1 := b1["code"].(string)
		require.Equal(t, "/api/bookings/"+id1, res.Header.Get("Location"))
		res = c.call(201, "POST", "/api/bookings", tok, seats, "Idempotency-Key", "order-1")
		require.Equal(t, "true", res.Header.Get("Idempotent-Replayed"))
		require.Equal(t, b1["id"], res.data()["id"])
		res = c.call(422, "POST", "/api/bookings", tok, map[string]any{"tour_id": tourID, "quantity": 1}, "Idempotency-Key", "order-1")
		require.Contains(t, res.fields(), "Idempotency-Key")
		c.call(422, "POST", "/api/bookings", tok, map[string]any{"tour_id": tourID, "quantity": 9})
		c.call(422, "POST", "/api/bookings", tok, map[string]any{"tour_id": tourID, "quantity": 1, "seat": "12A"})
		c.call(400, "POST", "/api/bookings", tok, `[1,2]`)
		c.call(401, "POST", "/api/bookings", "", seats)
		c.call(404, "POST", "/api/bookings", tok, map[string]any{"tour_id": 999999, "quantity": 1})
		res = c.call(409, "POST", "/api/bookings", other, map[string]any{"tour_id": tourID, "quantity": 3})
		require.Equal(t, "sold_out", res.errCode())
		c.call(200, "GET", "/api/bookings/"+id1, tok, nil)
		c.call(200, "GET", "/api/bookings/"+id1, admin, nil)
		c.call(404, "GET", "/api/bookings/"+id1, other, nil)
		c.call(401, "GET", "/api/bookings/"+id1, "", nil)
		c.call(200, "GET", "/api/bookings", tok, nil)
		c.call(200, "GET", "/api/bookings", other, nil)
		c.call(422, "GET", "/api/bookings?page=0", tok, nil)

		// Payment: Snap, then Midtrans' notification of the settlement.
		c.call(404, "POST", "/api/bookings/"+id1+"/pay", other, nil)
		c.call(200, "POST", "/api/bookings/"+id1+"/pay", tok, nil)
		c.call(409, "GET", "/api/bookings/"+id1+"/ticket", tok, nil)
		fake.SetStatus(code1, 3_000_000, "settlement", "")
		note, err := fake.Notification(code1)
		require.NoError(t, err)
		c.call(400, "POST", "/api/midtrans/callback", "", `{"order_id":1}`)
		forged := strings.Replace(string(note), `"signature_key":"`, `"signature_key":"0`, 1)
		c.call(403, "POST", "/api/midtrans/callback", "", forged)
		res = c.call(200, "POST", "/api/midtrans/callback", "", string(note))
		require.Equal(t, "paid", res.data()["outcome"])
		res = c.call(200, "POST", "/api/midtrans/callback", "", string(note))
		require.Equal(t, "duplicate", res.data()["outcome"])
		res = c.call(200, "GET", "/api/bookings/"+id1, tok, nil)
		require.Equal(t, "paid", res.data()["status"])
		res = c.call(409, "POST", "/api/bookings/"+id1+"/cancel", tok, nil)
		require.Equal(t, "conflict", res.errCode())
		c.call(409, "POST", "/api/bookings/"+id1+"/pay", tok, nil)
		c.call(200, "GET", "/api/bookings/"+id1+"/ticket", tok, nil)
		c.call(401, "GET", "/api/bookings/"+id1+"/ticket", "", nil)
		link := h.Service.TicketURL(int64(b1["id"].(float64)), time.Now().AddDate(0, 0, 7))
		c.call(200, "GET", link[strings.Index(link, "/api/"):], "", nil)

		// A second booking, cancelled; a third, paid through the simulator.
		res = c.call(201, "POST", "/api/bookings", tok, map[string]any{"tour_id": tourID, "quantity": 1})
		id2 := fmt.Sprint(int64(res.data()["id"].(float64)))
		res = c.call(200, "POST", "/api/bookings/"+id2+"/cancel", tok, nil)
		require.Equal(t, "cancelled", res.data()["status"])
		res = c.call(201, "POST", "/api/bookings", tok, map[string]any{"tour_id": tourID, "quantity": 1})
		b3 := res.data()
		code3 := b3["code"].(string)
		c.call(401, "POST", "/api/payments/simulate", "", map[string]any{"order_id": code3, "transaction_status": "settlement"})
		c.call(422, "POST", "/api/payments/simulate", tok, map[string]any{"order_id": code3, "transaction_status": "bribe"})
		c.call(400, "POST", "/api/payments/simulate", tok, map[string]any{"order_id": 3})
		sim := h.Service.SimulatorURL(code3, time.Now().Add(time.Hour))
		sim = sim[strings.Index(sim, "/simulator/"):]
		c.call(200, "GET", sim, "", nil)
		c.call(403, "GET", "/simulator/"+code3+"?expires=1&signature=00", "", nil)
		res = c.call(303, "POST", sim, "", form("transaction_status=pending"))
		require.Contains(t, res.Header.Get("Location"), "outcome=pending")
		res = c.call(200, "POST", "/api/payments/simulate", tok, map[string]any{"order_id": code3, "transaction_status": "settlement"})
		require.Equal(t, "paid", res.data()["outcome"])

		// Fair use: a customer holding two unpaid bookings may not book a third.
		_, greedy := a.user("greedy@example.com", false)
		for range 2 {
			c.call(201, "POST", "/api/bookings", greedy, map[string]any{"tour_id": spare, "quantity": 1})
		}
		res = c.call(429, "POST", "/api/bookings", greedy, map[string]any{"tour_id": spare, "quantity": 1})
		require.Equal(t, "too_many_pending", res.errCode())

		// An administrator deletes only a tour nobody booked.
		c.call(409, "DELETE", "/api/admin/tours/"+tid, admin, nil)
		res = c.call(201, "POST", "/api/admin/tours", admin, newTour)
		c.call(204, "DELETE", "/api/admin/tours/"+fmt.Sprint(int64(res.data()["id"].(float64))), admin, nil)

		// Password change, then logging out.
		c.call(422, "PUT", "/api/me/password", tok, map[string]any{"current_password": "wrong-password", "password": "rahasia456"})
		res = c.call(200, "PUT", "/api/me/password", tok, map[string]any{
			"current_password": "rahasia123", "password": "rahasia456", "password_confirmation": "rahasia456",
		})
		tok = res.Body["token"].(string)
		res = c.call(200, "POST", "/api/logout-all", tok, nil)
		require.Equal(t, float64(1), res.data()["revoked"])
		c.call(200, "POST", "/api/logout", other, nil)
		c.call(401, "POST", "/api/logout", other, nil)

		// What the flow must have shown, and every operation at least once.
		for _, k := range []string{
			"POST /api/register 201", "POST /api/login 200", "GET /api/tours 200", "POST /api/bookings 201",
			"GET /api/bookings/{id} 200", "POST /api/bookings 401", "GET /api/bookings/{id} 404",
			"POST /api/bookings 409", "POST /api/bookings 422", "POST /api/login 429", "POST /api/bookings 429",
			"POST /api/midtrans/callback 200", "POST /api/midtrans/callback 403", "POST /api/admin/tours 403",
		} {
			require.Positive(t, c.seen[k], "the flow checked no %s", k)
		}
		for _, r := range documentedRoutes(c.doc) {
			found := false
			for k := range c.seen {
				found = found || strings.HasPrefix(k, r+" ")
			}
			require.True(t, found, "no answer of %s was checked against the document", r)
		}
	})
}
