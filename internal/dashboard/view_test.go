package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/driver"
)

func TestMaskedPayload(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"order kept and secrets masked",
			`{"uuid":"u1","job":"X","data":{"booking_id":12345678901234567890,"password":"p","Server_Key":"SB-1","ok":true,"none":null}}`,
			`{
  "uuid": "u1",
  "job": "X",
  "data": {
    "booking_id": 12345678901234567890,
    "password": "********",
    "Server_Key": "********",
    "ok": true,
    "none": null
  }
}`},
		{"a secret object is hidden whole",
			`{"card":{"number":"4811111111111114","cvv":"123"},"authorization":"Bearer x","api-token":["a","b"],"password":null}`,
			`{
  "card": "********",
  "authorization": "********",
  "api-token": "********",
  "password": null
}`},
		{"arrays of objects", `[{"secret":"s"},{"name":"<b>&"}, [], {}]`, `[
  {
    "secret": "********"
  },
  {
    "name": "<b>&"
  },
  [],
  {}
]`},
		{"not JSON is not shown", `{"password":"hunter2"`, `(the payload is not valid JSON; its 21 bytes are not shown)`},
		{"trailing data is not shown", `{"a":1} {"password":"hunter2"}`, `(the payload is not valid JSON; its 30 bytes are not shown)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, maskedPayload([]byte(tc.in)))
		})
	}
}

func TestIsSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"password": true, "PASSWORD": true, "db_password": true, "token": true, "api_token": true, "secret": true,
		"client_secret": true, "key": true, "server_key": true, "ServerKey": true, "authorization": true,
		"card_number": true, "cvv": true, "booking_id": false, "note": false, "email": false, "queue": false,
	} {
		require.Equal(t, want, isSecretKey(k), k)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "/admin",
		"/admin":                 "/admin",
		"/admin/failed?page=2":   "/admin/failed?page=2",
		"/admin/jobs?state=x":    "/admin/jobs?state=x",
		"/administrator":         "/admin",
		"/admin/login":           "/admin",
		"//evil.example/admin":   "/admin",
		"https://evil.example/":  "/admin",
		"/admin\\@evil.example":  "/admin",
		"/api/me":                "/admin",
		"/admin/x\r\nSet-Cookie": "/admin",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := csrfToken("trp_a"), csrfToken("trp_b")
	require.Len(t, a, 64)
	require.NotEqual(t, a, b, "each session has its own token")
	require.Equal(t, a, csrfToken("trp_a"), "stable for a session")
	require.True(t, validCSRF(a, csrfToken("trp_a")))
	require.False(t, validCSRF(b, a))
	require.False(t, validCSRF("", ""))
}

func TestSummarize(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 30, 40, 0, time.UTC)
	m := func(q string, ago time.Duration, processed, failed int, runtimeMS int64) *driver.JobMetric {
		return &driver.JobMetric{Queue: q, Minute: now.Truncate(time.Minute).Add(-ago), Processed: processed, Failed: failed, RuntimeMS: runtimeMS}
	}
	s := summarize([]*driver.JobMetric{
		m("emails", 2*time.Hour, 1000, 0, 1), // outside the hour
		m("emails", 50*time.Minute, 10, 0, 1000),
		m("default", 3*time.Minute, 8, 2, 500),
		m("emails", 0, 5, 0, 2500),
	}, now)
	require.Len(t, s.buckets, 60)
	require.Equal(t, 25, s.pastHour)
	require.InDelta(t, 3.0, s.perMinute, 0.001, "(10 + 5) jobs over the last 5 minutes")
	require.Equal(t, "emails", s.maxRuntimeQueue)
	require.Equal(t, 233*time.Millisecond+333*time.Microsecond, s.maxRuntime.Truncate(time.Microsecond))
	require.Equal(t, 5, s.buckets[59].processed)
	require.Equal(t, 2, s.buckets[56].failed)

	chart := string(throughputChart(s.buckets, time.UTC))
	require.True(t, strings.HasPrefix(chart, "<svg"))
	require.Contains(t, chart, "10:30 — 5 processed, 0 failed")
	require.Contains(t, string(throughputChart(make([]bucket, 60), time.UTC)), "No jobs ran")
}

func TestFormatting(t *testing.T) {
	require.Equal(t, "1,234,567", thousands(1234567))
	require.Equal(t, "-1,000", thousands(-1000))
	require.Equal(t, "Rp1.500.000", funcs["rupiah"].(func(int64) string)(1500000))
	require.Equal(t, "850 ms", humanDuration(850*time.Millisecond))
	require.Equal(t, "3 min 05 s", humanDuration(3*time.Minute+5*time.Second))
	require.Equal(t, "2 h 10 min", humanDuration(2*time.Hour+10*time.Minute))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	require.Equal(t, "just now", ago(now, now.Add(-2*time.Second)))
	require.Equal(t, "3 min ago", ago(now, now.Add(-3*time.Minute)))
	require.Equal(t, "in 5 min", until(now, now.Add(4*time.Minute+30*time.Second)))
	require.Equal(t, "never", ago(now, time.Time{}))
}
