package about

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// secretVals are settings whose values must never appear in the report.
var secretVals = map[string]string{
	"DB_PASSWORD":                "db-pass-Zq81",
	"MAIL_PASSWORD":              "mail-pass-Kx27",
	"MIDTRANS_SERVER_KEY":        "SB-Mid-server-secretQ93",
	"APP_KEY":                    "base64:" + strings.Repeat("Qk", 22),
	"NOTIFY_SLACK_WEBHOOK_URL":   "https://hooks.slack.test/services/T0/B0/slacksecret77",
	"NOTIFY_DISCORD_WEBHOOK_URL": "https://discord.test/api/webhooks/1/discordsecret55",
	"REDIS_URL":                  "redis://:redis-pass-Vb62@127.0.0.1:6379/0",
}

func render(t *testing.T, r *Report) (string, string) {
	t.Helper()
	var text, js bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	require.NoError(t, r.WriteJSON(&js))
	return text.String(), js.String()
}

func TestReport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		drv, db := storetest.Driver(t, d)
		_, err := drv.JobInsertMany(ctx, []*driver.JobInsertParams{
			{Queue: "emails", Kind: "SendInvoiceEmail", Payload: []byte(`{}`), MaxAttempts: 3},
			{Queue: "emails", Kind: "SendInvoiceEmail", Payload: []byte(`{}`), MaxAttempts: 3},
			{Queue: "emails", Kind: "SendTicketEmail", Payload: []byte(`{}`), MaxAttempts: 3, Delay: time.Hour},
		})
		require.NoError(t, err)

		vals := map[string]string{
			"APP_ENV": "staging", "DB_CONNECTION": string(d), "QUEUE_CONNECTION": "redis",
			"MAIL_MAILER": "smtp", "MAIL_HOST": "smtp.example.test", "MAIL_PORT": "2525", "MAIL_USERNAME": "mailer",
			"PAYMENT_SIMULATOR": "true", "MIDTRANS_CLIENT_KEY": "SB-Mid-client-public",
		}
		for k, v := range secretVals {
			vals[k] = v
		}
		cfg, err := config.FromMap(vals)
		require.NoError(t, err)
		s, err := schedule.New(time.UTC, schedule.Job(fakeJob{}).EveryFiveMinutes().Name("expire-unpaid-bookings").WithoutOverlapping().OnOneServer())
		require.NoError(t, err)

		r := Collect(ctx, Params{Config: cfg, DB: db, Queues: dbdriver.NewAdmin(db.DB), Schedule: s.Describe(time.Now())})
		require.Empty(t, r.Database.Error)
		require.Equal(t, string(d), r.Database.Driver)
		require.NotEmpty(t, r.Database.Version)
		require.Positive(t, r.Database.SizeBytes)
		require.Zero(t, r.Database.PendingMigrations)
		require.Empty(t, r.Queue.Error)
		var emails *driver.QueueStat
		for _, q := range r.Queue.Queues {
			if q.Queue == "emails" {
				emails = q
			}
		}
		require.NotNil(t, emails)
		require.Equal(t, 2, emails.Pending)
		require.Equal(t, 1, emails.Delayed)
		require.Equal(t, "redis://:xxxxx@127.0.0.1:6379/0", r.Queue.Redis)
		require.Equal(t, "simulator", r.Midtrans.Mode)
		require.Equal(t, "smtp.example.test:2525", r.Mail.Server)
		require.Len(t, r.Schedule, 1)
		require.Equal(t, []string{"without overlapping", "on one server"}, r.Schedule[0].Flags)
		require.NotEmpty(t, r.Retention)

		text, js := render(t, r)
		for k, v := range secretVals {
			require.NotContains(t, text, v, k)
			require.NotContains(t, js, v, k)
		}
		for _, secret := range cfg.Secrets() {
			require.NotContains(t, text, secret)
			require.NotContains(t, js, secret)
		}
		require.Contains(t, text, "Queue emails")
		require.Contains(t, text, "2 pending, 1 delayed, 0 reserved, 0 failed")
		require.Contains(t, text, "MIDTRANS_SERVER_KEY")
		require.Contains(t, text, "expire-unpaid-bookings")
		require.Contains(t, text, "QUEUE_FAILED_RETENTION_HOURS")
		require.Regexp(t, `(?m)^  Mode \.+ simulator$`, text)
		var back Report
		require.NoError(t, json.Unmarshal([]byte(js), &back))
		require.Equal(t, r.Secrets, back.Secrets)
		for _, s := range back.Secrets {
			want := "set"
			if s.Key == "DB_URL" {
				want = "not set"
			}
			require.Equal(t, want, s.Value, s.Key)
		}
	})
}

// TestReportWithoutDatabase reports what the configuration says when the
// database cannot be reached, with the error and without its password.
func TestReportWithoutDatabase(t *testing.T) {
	cfg, errs := config.DiagnoseMap(map[string]string{
		"APP_ENV": "production", "DB_CONNECTION": "pgsql", "DB_PASSWORD": "pg-secret-991", "APP_KEY": secretVals["APP_KEY"],
	})
	require.Len(t, errs, 1)
	r := Collect(context.Background(), Params{
		Config: cfg, ConfigErrors: []string{errs[0].Error()},
		DBErr:     errors.New("connect to 127.0.0.1:5432 as tripin with password pg-secret-991: refused"),
		QueuesErr: errors.New("no database"),
	})
	text, js := render(t, r)
	require.NotContains(t, text+js, "pg-secret-991")
	require.Contains(t, text, "config: MIDTRANS_SERVER_KEY: is required when APP_ENV=production")
	require.Contains(t, r.Database.Error, "refused")
	require.Equal(t, "127.0.0.1:5432", r.Database.Server)
	require.Equal(t, "sandbox", r.Midtrans.Mode)
	require.Equal(t, "not set", r.Midtrans.ServerKey)
}

type fakeJob struct{}

func (fakeJob) Kind() string { return "ExpireUnpaidBookings" }
