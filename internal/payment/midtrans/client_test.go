package midtrans_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
)

const serverKey = "SB-Mid-server-TESTKEY-do-not-leak"

func snapRequest(orderID string) midtrans.SnapRequest {
	created := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	return midtrans.SnapRequest{
		TransactionDetails: midtrans.TransactionDetails{OrderID: orderID, GrossAmount: 300000},
		ItemDetails:        []midtrans.ItemDetail{{ID: "TOUR-1", Price: 150000, Quantity: 2, Name: "Bromo sunrise"}},
		CustomerDetails:    &midtrans.CustomerDetails{FirstName: "Ayu", Email: "ayu@example.com"},
		Expiry:             midtrans.NewSnapExpiry(created, 30),
	}
}

func TestCreateTransaction(t *testing.T) {
	fake := midtranstest.NewServer(serverKey)
	defer fake.Close()
	c := fake.Client()
	ctx := context.Background()

	resp, err := c.CreateTransaction(ctx, snapRequest("TRP-A1"))
	require.NoError(t, err)
	require.NotEmpty(t, resp.Token)
	require.True(t, strings.HasPrefix(resp.RedirectURL, fake.URL), resp.RedirectURL)
	tx, ok := fake.Transaction("TRP-A1")
	require.True(t, ok)
	require.Equal(t, "2026-11-27 20:00:00 +0700", tx.Request.Expiry.StartTime)
	require.Equal(t, int64(30), tx.Request.Expiry.Duration)
	require.Equal(t, "minutes", tx.Request.Expiry.Unit)
	require.Equal(t, int64(300000), tx.Request.TransactionDetails.GrossAmount)

	// Midtrans refuses a reused order_id.
	_, err = c.CreateTransaction(ctx, snapRequest("TRP-A1"))
	require.ErrorIs(t, err, midtrans.ErrDuplicateOrder)
	require.Equal(t, 1, fake.Creates())
}

func TestCreateTransactionChecksItemTotals(t *testing.T) {
	fake := midtranstest.NewServer(serverKey)
	defer fake.Close()
	req := snapRequest("TRP-B1")
	req.ItemDetails[0].Price = 100000

	// The client refuses before sending …
	_, err := fake.Client().CreateTransaction(context.Background(), req)
	require.ErrorContains(t, err, "item details sum")
	require.Equal(t, 0, fake.Requests())

	// … and the fake refuses too, like Midtrans, when a request gets there.
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, fake.URL+"/snap/v1/transactions", strings.NewReader(string(body)))
	hr.SetBasicAuth(serverKey, "")
	res, err := http.DefaultClient.Do(hr)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, string(b), "sum of item_details")
}

func TestBasicAuth(t *testing.T) {
	fake := midtranstest.NewServer(serverKey)
	defer fake.Close()
	c := fake.Client()
	c.ServerKey = "SB-Mid-server-WRONG"
	_, err := c.CreateTransaction(context.Background(), snapRequest("TRP-C1"))
	require.ErrorIs(t, err, midtrans.ErrUnauthorized)
	_, err = c.Status(context.Background(), "TRP-C1")
	require.ErrorIs(t, err, midtrans.ErrUnauthorized)
	require.Equal(t, 0, fake.Creates())

	// What the client sends is exactly "key:" in Basic auth.
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"token":"t","redirect_url":"u"}`)
	}))
	defer srv.Close()
	c2 := &midtrans.Client{ServerKey: "abc", SnapURL: srv.URL, APIURL: srv.URL}
	_, err = c2.CreateTransaction(context.Background(), snapRequest("TRP-C2"))
	require.NoError(t, err)
	require.Equal(t, "Basic YWJjOg==", got) // base64("abc:")
}

func TestServerKeyNeverInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error_messages":["boom"]}`)
	}))
	c := &midtrans.Client{ServerKey: serverKey, SnapURL: srv.URL, APIURL: srv.URL}
	_, err := c.CreateTransaction(context.Background(), snapRequest("TRP-D1"))
	require.Error(t, err)
	require.NotContains(t, err.Error(), serverKey)
	_, err = c.Status(context.Background(), "TRP-D1")
	require.Error(t, err)
	require.NotContains(t, err.Error(), serverKey)
	srv.Close()

	// A connection error names the URL, never the key.
	_, err = c.CreateTransaction(context.Background(), snapRequest("TRP-D2"))
	require.Error(t, err)
	require.NotContains(t, err.Error(), serverKey)
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &midtrans.Client{ServerKey: serverKey, SnapURL: srv.URL, APIURL: srv.URL, Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := c.Status(context.Background(), "TRP-E1")
	require.Error(t, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestStatusAndExpire(t *testing.T) {
	fake := midtranstest.NewServer(serverKey)
	defer fake.Close()
	c := fake.Client()
	ctx := context.Background()

	_, err := c.Status(ctx, "TRP-NONE")
	require.ErrorIs(t, err, midtrans.ErrTransactionNotFound)

	_, err = c.CreateTransaction(ctx, snapRequest("TRP-F1"))
	require.NoError(t, err)
	st, err := c.Status(ctx, "TRP-F1")
	require.NoError(t, err)
	require.Equal(t, "pending", st.TransactionStatus)
	require.Equal(t, "300000.00", st.GrossAmount)

	fake.SetStatus("TRP-F1", 0, midtrans.StatusSettlement, "")
	st, err = c.Status(ctx, "TRP-F1")
	require.NoError(t, err)
	require.Equal(t, "settlement", st.TransactionStatus)
	require.Equal(t, "200", st.StatusCode)
	require.True(t, midtrans.ValidSignature(st.OrderID, st.StatusCode, st.GrossAmount, st.SignatureKey, serverKey))

	// A settled transaction cannot be expired; a pending one can.
	_, err = c.Expire(ctx, "TRP-F1")
	require.Error(t, err)
	_, err = c.CreateTransaction(ctx, snapRequest("TRP-F2"))
	require.NoError(t, err)
	st, err = c.Expire(ctx, "TRP-F2")
	require.NoError(t, err)
	require.Equal(t, "expire", st.TransactionStatus)
	require.Equal(t, "407", st.StatusCode)
}

func TestFakeDeliversSignedNotifications(t *testing.T) {
	fake := midtranstest.NewServer(serverKey)
	defer fake.Close()
	var (
		mu  sync.Mutex
		got []midtrans.Notification
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n, err := midtrans.DecodeNotification(b)
		if err != nil || !midtrans.VerifySignature(n, serverKey) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	}))
	defer hook.Close()
	ctx := context.Background()
	_, err := fake.Client().CreateTransaction(ctx, snapRequest("TRP-G1"))
	require.NoError(t, err)
	code, err := fake.Notify(ctx, hook.URL, "TRP-G1", midtrans.StatusCapture, midtrans.FraudAccept)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, got, 1)
	require.Equal(t, "capture", got[0].TransactionStatus)
	require.Equal(t, "accept", got[0].FraudStatus)
	require.Equal(t, "300000.00", got[0].GrossAmount)
	_, err = fake.Notify(ctx, hook.URL, "TRP-UNKNOWN", midtrans.StatusSettlement, "")
	require.Error(t, err)
}

func TestSnapRequestValidate(t *testing.T) {
	r := snapRequest("")
	require.Error(t, r.Validate())
	r = snapRequest(strings.Repeat("x", 51))
	require.Error(t, r.Validate())
	r = snapRequest("TRP-1")
	r.TransactionDetails.GrossAmount = 0
	require.Error(t, r.Validate())
	r = snapRequest("TRP-1")
	r.ItemDetails[0].Quantity = 0
	require.Error(t, r.Validate())
	r = snapRequest("TRP-1")
	require.NoError(t, r.Validate())
	var apiErr *midtrans.APIError
	err := error(&midtrans.APIError{Op: "create transaction", HTTPStatus: 400, Messages: []string{"transaction_details.order_id sudah digunakan"}})
	require.True(t, errors.As(err, &apiErr))
	require.ErrorIs(t, err, midtrans.ErrDuplicateOrder)
}

func TestStartLocal(t *testing.T) {
	fake := midtranstest.StartLocal("http://localhost:8080/")
	defer fake.Close()
	require.True(t, strings.HasPrefix(fake.ServerKey, "SB-Mid-server-local-"))
	other := midtranstest.StartLocal("http://localhost:8080")
	defer other.Close()
	require.NotEqual(t, fake.ServerKey, other.ServerKey, "each local fake makes up its own key")
	resp, err := fake.Client().CreateTransaction(context.Background(), snapRequest("TRP-L1"))
	require.NoError(t, err)
	require.Equal(t, "http://localhost:8080/simulator/TRP-L1", resp.RedirectURL)
}
