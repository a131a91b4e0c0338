package midtrans

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"150000.00", 150000, true},
		{"150000", 150000, true},
		{"150000.0", 150000, true},
		{"0", 0, true},
		{"0.00", 0, true},
		{"1", 1, true},
		{"999999999999999999", 0, false}, // would overflow ×100 arithmetic elsewhere
		{"92233720368547758", 92233720368547758, true},
		{"150000.50", 0, false},
		{"150000.01", 0, false},
		{"150000.05", 0, false},
		{"150000.000", 0, false},
		{"150000.", 0, false},
		{".00", 0, false},
		{"", 0, false},
		{"-150000.00", 0, false},
		{"+150000.00", 0, false},
		{" 150000.00", 0, false},
		{"150000.00 ", 0, false},
		{"150,000.00", 0, false},
		{"150.000,00", 0, false},
		{"1.5e5", 0, false},
		{"0150000.00", 0, false},
		{"00", 0, false},
		{"abc", 0, false},
		{"150000.0a", 0, false},
		{"0x10", 0, false},
		{"１５００００", 0, false}, // full-width digits
		{"NaN", 0, false},
		{"Infinity", 0, false},
		{"150000.00.00", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in)
			if !tt.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFormatAmountRoundTrips(t *testing.T) {
	for _, n := range []int64{0, 1, 150000, 1500000, 92233720368547758} {
		got, err := ParseAmount(FormatAmount(n))
		require.NoError(t, err)
		require.Equal(t, n, got)
	}
	require.Equal(t, "150000.00", FormatAmount(150000))
}

func TestSignature(t *testing.T) {
	// The value from Midtrans' documentation formula, computed independently.
	sum := sha512.Sum512([]byte("TRP-1" + "200" + "150000.00" + "SB-Mid-server-key"))
	want := hex.EncodeToString(sum[:])
	require.Equal(t, want, Signature("TRP-1", "200", "150000.00", "SB-Mid-server-key"))

	good := Signature("TRP-1", "200", "150000.00", "key")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	tests := []struct {
		name                         string
		order, code, gross, sig, key string
		want                         bool
	}{
		{"valid", "TRP-1", "200", "150000.00", good, "key", true},
		{"valid uppercase hex", "TRP-1", "200", "150000.00", strings.ToUpper(good), "key", true},
		{"wrong key", "TRP-1", "200", "150000.00", good, "other", false},
		{"empty key never verifies", "TRP-1", "200", "150000.00", Signature("TRP-1", "200", "150000.00", ""), "", false},
		{"tampered amount", "TRP-1", "200", "1500.00", good, "key", false},
		{"amount reformatted", "TRP-1", "200", "150000", good, "key", false},
		{"tampered status code", "TRP-1", "201", "150000.00", good, "key", false},
		{"tampered order", "TRP-2", "200", "150000.00", good, "key", false},
		{"first byte flipped", "TRP-1", "200", "150000.00", flip(good, 0), "key", false},
		{"last byte flipped", "TRP-1", "200", "150000.00", flip(good, len(good)-1), "key", false},
		{"truncated", "TRP-1", "200", "150000.00", good[:len(good)-2], "key", false},
		{"too long", "TRP-1", "200", "150000.00", good + "00", "key", false},
		{"not hex", "TRP-1", "200", "150000.00", strings.Repeat("zz", 64), "key", false},
		{"empty", "TRP-1", "200", "150000.00", "", "key", false},
		{"sha256 length", "TRP-1", "200", "150000.00", good[:64], "key", false},
		// Midtrans' formula concatenates without separators, so moving a
		// boundary keeps the signature valid. The payment service refuses
		// such shapes elsewhere: order_id must name a booking, gross_amount
		// must equal its total, and a payment needs status_code 200.
		{"shifted boundary", "TRP-12", "00", "150000.00", good, "key", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ValidSignature(tt.order, tt.code, tt.gross, tt.sig, tt.key))
		})
	}
}

// TestSignatureComparisonIsConstantTime checks that verification goes
// through crypto/subtle: a signature that shares a long prefix with the
// right one costs no fewer allocations or steps than one that shares
// nothing, and both are refused.
func TestSignatureComparisonIsConstantTime(t *testing.T) {
	good := Signature("TRP-1", "200", "150000.00", "key")
	nearly := good[:len(good)-1] + map[bool]string{true: "1", false: "0"}[good[len(good)-1] == '0']
	far := strings.Repeat("0", len(good))
	if far == good {
		t.Skip("astronomically unlikely")
	}
	require.False(t, ValidSignature("TRP-1", "200", "150000.00", nearly, "key"))
	require.False(t, ValidSignature("TRP-1", "200", "150000.00", far, "key"))
	a := testing.AllocsPerRun(100, func() { ValidSignature("TRP-1", "200", "150000.00", nearly, "key") })
	b := testing.AllocsPerRun(100, func() { ValidSignature("TRP-1", "200", "150000.00", far, "key") })
	require.Equal(t, a, b)
}

func TestDecodeNotification(t *testing.T) {
	n, err := DecodeNotification([]byte(`{"transaction_time":"2026-11-27 20:00:00","transaction_status":"settlement",
		"transaction_id":"abc","status_message":"ok","status_code":"200","signature_key":"deadbeef",
		"payment_type":"bank_transfer","order_id":"TRP-1","merchant_id":"M1","gross_amount":"150000.00",
		"fraud_status":"accept","currency":"IDR","va_numbers":[{"bank":"bca","va_number":"123"}]}`))
	require.NoError(t, err)
	require.Equal(t, Notification{
		OrderID: "TRP-1", StatusCode: "200", GrossAmount: "150000.00", SignatureKey: "deadbeef",
		TransactionStatus: "settlement", TransactionID: "abc", TransactionTime: "2026-11-27 20:00:00",
		FraudStatus: "accept", PaymentType: "bank_transfer", StatusMessage: "ok", MerchantID: "M1", Currency: "IDR",
	}, n)

	// A numeric gross_amount keeps its literal text, so the signature still
	// covers exactly what was sent.
	n, err = DecodeNotification([]byte(`{"order_id":"A","status_code":200,"gross_amount":150000.00,"transaction_status":"settlement","signature_key":"x"}`))
	require.NoError(t, err)
	require.Equal(t, "150000.00", n.GrossAmount)
	require.Equal(t, "200", n.StatusCode)

	bad := []string{
		``, `null`, `[]`, `"x"`, `{`, `{}`, `{"order_id":"A"}`,
		`{"order_id":"A","status_code":"200","gross_amount":"1.00","transaction_status":"settlement"}`,
		`{"order_id":["A"],"status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"}`,
		`{"order_id":{"a":1},"status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"}`,
		`{"order_id":true,"status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"}`,
		`{"order_id":"A","status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"} {}`,
		`{"order_id":"A","status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"} garbage`,
		`{"order_id":"","status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"}`,
		`{"order_id":null,"status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"}`,
		`{"order_id":"A","status_code":"200","gross_amount":"1.00","transaction_status":"settlement","signature_key":"x"` + strings.Repeat(" ", MaxNotificationSize) + `}`,
	}
	for _, b := range bad {
		_, err := DecodeNotification([]byte(b))
		require.Error(t, err, "%.80q", b)
		require.True(t, errors.Is(err, ErrMalformed))
	}
}

func TestBuildNotificationVerifies(t *testing.T) {
	for _, st := range []string{StatusSettlement, StatusCapture, StatusPending, StatusDeny, StatusCancel, StatusExpire, StatusFailure, StatusRefund} {
		raw := BuildNotification("key", NotificationParams{OrderID: "TRP-9", GrossAmount: 250000, TransactionStatus: st, FraudStatus: FraudAccept})
		n, err := DecodeNotification(raw)
		require.NoError(t, err)
		require.True(t, VerifySignature(n, "key"))
		require.False(t, VerifySignature(n, "other"))
		require.Equal(t, "250000.00", n.GrossAmount)
		require.Equal(t, StatusCodeFor(st, FraudAccept), n.StatusCode)
	}
}

func FuzzDecodeNotification(f *testing.F) {
	f.Add([]byte(BuildNotification("key", NotificationParams{OrderID: "TRP-1", GrossAmount: 150000, TransactionStatus: StatusSettlement})))
	f.Add([]byte(`{"order_id":"A","status_code":200,"gross_amount":150000.00,"transaction_status":"settlement","signature_key":"x"}`))
	f.Add([]byte(`{"order_id":"A\u0000","status_code":"200","gross_amount":"1e3","transaction_status":"x","signature_key":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := DecodeNotification(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if n.OrderID == "" || n.StatusCode == "" || n.GrossAmount == "" || n.TransactionStatus == "" || n.SignatureKey == "" {
			t.Fatalf("decoded notification misses a required field: %+v", n)
		}
		// Nothing but the right key verifies a decoded notification.
		if VerifySignature(n, "fuzz-server-key") && n.SignatureKey != Signature(n.OrderID, n.StatusCode, n.GrossAmount, "fuzz-server-key") &&
			!strings.EqualFold(n.SignatureKey, Signature(n.OrderID, n.StatusCode, n.GrossAmount, "fuzz-server-key")) {
			t.Fatalf("a signature verified that is not the right one")
		}
		if amt, err := ParseAmount(n.GrossAmount); err == nil {
			whole, frac, _ := strings.Cut(n.GrossAmount, ".")
			if strconv.FormatInt(amt, 10) != whole || strings.Trim(frac, "0") != "" {
				t.Fatalf("amount %q parsed to %d", n.GrossAmount, amt)
			}
		}
	})
}
