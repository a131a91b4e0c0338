package httpapi_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestPaymentFlow books, pays through the fake Midtrans and the simulator,
// and opens the e-ticket, all over HTTP against the real API server.
func TestPaymentFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		const key = "SB-Mid-server-httpapi-test"
		fake := midtranstest.NewServer(key)
		t.Cleanup(fake.Close)
		pcfg, err := config.FromMap(map[string]string{
			"APP_ENV": "testing", "MIDTRANS_SERVER_KEY": key, "MIDTRANS_SNAP_URL": fake.URL, "MIDTRANS_API_URL": fake.URL,
			"PAYMENT_SIMULATOR": "true",
		})
		require.NoError(t, err)
		h := &payment.Handlers{Config: pcfg}
		a := newAPI(t, d, httpapi.MountPayments(h))
		var (
			mu   sync.Mutex
			paid []int64
		)
		h.Service, err = payment.New(payment.Params{DB: a.db, Config: pcfg, Client: fake.Client(),
			OnPaidTx: func(ctx context.Context, tx *sql.Tx, id int64) error {
				mu.Lock()
				defer mu.Unlock()
				paid = append(paid, id)
				return nil
			}})
		require.NoError(t, err)

		tour := a.tour("Komodo Island Hopping", "Labuan Bajo", 30, 10)
		_, tok := a.user("ayu@example.com", false)
		_, other := a.user("budi@example.com", false)
		res := a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 2})
		require.Equal(t, 201, res.Status, string(res.Raw))
		id := int64(res.data()["id"].(float64))
		code := res.data()["code"].(string)
		bid := strconv.FormatInt(id, 10)

		res = a.do("POST", "/api/bookings/"+bid+"/pay", "", nil)
		require.Equal(t, 401, res.Status)
		res = a.do("POST", "/api/bookings/"+bid+"/pay", other, nil)
		require.Equal(t, 404, res.Status)
		res = a.do("POST", "/api/bookings/"+bid+"/pay", tok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		snapToken := res.data()["token"]
		require.NotEmpty(t, snapToken)
		res = a.do("POST", "/api/bookings/"+bid+"/pay", tok, nil)
		require.Equal(t, snapToken, res.data()["token"])
		require.Equal(t, 1, fake.Creates())

		res = a.do("GET", "/api/bookings/"+bid+"/ticket", tok, nil)
		require.Equal(t, 409, res.Status)

		// Forged and unknown callbacks get the API's error shape.
		res = a.do("POST", "/api/midtrans/callback", "", `{"order_id":"`+code+`","status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"00"}`)
		require.Equal(t, 403, res.Status)
		require.Equal(t, "forbidden", res.errCode())
		res = a.do("POST", "/api/midtrans/callback", "", `nope`)
		require.Equal(t, 400, res.Status)

		// Midtrans (the fake) notifies our webhook of the settlement.
		status, err := fake.Notify(context.Background(), a.url+"/api/midtrans/callback", code, "settlement", "")
		require.NoError(t, err)
		require.Equal(t, 200, status)
		res = a.do("GET", "/api/bookings/"+bid, tok, nil)
		require.Equal(t, "paid", res.data()["status"])
		require.Equal(t, []int64{id}, paid)
		a.requireInvariant()

		// The e-ticket page, for the owner only.
		req, _ := http.NewRequest("GET", a.url+"/api/bookings/"+bid+"/ticket", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		hres, err := a.client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(hres.Body)
		hres.Body.Close()
		require.Equal(t, 200, hres.StatusCode)
		require.True(t, strings.HasPrefix(hres.Header.Get("Content-Type"), "text/html"))
		require.Contains(t, string(body), code)
		require.Contains(t, string(body), "data:image/png;base64,")
		res = a.do("GET", "/api/bookings/"+bid+"/ticket", other, nil)
		require.Equal(t, 404, res.Status)

		// The signed link of the e-ticket email opens without a login.
		link := h.Service.TicketURL(id, time.Now().AddDate(0, 0, 7))
		path := link[strings.Index(link, "/api/"):]
		hres, err = a.client.Get(a.url + path)
		require.NoError(t, err)
		hres.Body.Close()
		require.Equal(t, 200, hres.StatusCode)
		res = a.do("GET", path+"00", "", nil)
		require.Equal(t, 404, res.Status)

		// The simulator drives a second booking to a refund, for its owner
		// only.
		res = a.do("POST", "/api/bookings", tok, map[string]any{"tour_id": tour.ID, "quantity": 1})
		require.Equal(t, 201, res.Status)
		code2 := res.data()["code"].(string)
		res = a.do("POST", "/api/payments/simulate", "", map[string]any{"order_id": code2, "transaction_status": "settlement"})
		require.Equal(t, 401, res.Status, string(res.Raw))
		res = a.do("POST", "/api/payments/simulate", other, map[string]any{"order_id": code2, "transaction_status": "settlement"})
		require.Equal(t, 404, res.Status, string(res.Raw))
		res = a.do("POST", "/api/payments/simulate", tok, map[string]any{"order_id": code2, "transaction_status": "settlement"})
		require.Equal(t, 200, res.Status, string(res.Raw))
		require.Equal(t, "paid", res.data()["outcome"])
		res = a.do("POST", "/api/payments/simulate", tok, map[string]any{"order_id": code2, "transaction_status": "refund"})
		require.Equal(t, "refunded", res.data()["outcome"])
		require.Equal(t, 8, a.quota(tour.ID))
		a.requireInvariant()
	})
}
