package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

// webhookRecorder poses as a Slack or Discord incoming webhook.
type webhookRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

func newWebhookRecorder(t *testing.T) *webhookRecorder {
	w := &webhookRecorder{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if json.Unmarshal(b, &body) != nil {
			http.Error(rw, "invalid_payload", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.bodies = append(w.bodies, body)
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookRecorder) texts(field string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, b := range w.bodies {
		s, _ := b[field].(string)
		out = append(out, s)
	}
	return out
}

func TestNotifyScheduleChecksQueuesWhenAWebhookIsSet(t *testing.T) {
	env, out := scheduleTestEnv(t, map[string]string{"NOTIFY_DISCORD_WEBHOOK_URL": "https://discord.test/api/webhooks/1/x"})
	require.NoError(t, Run(context.Background(), env, []string{"schedule:list", "--json", "--time", "2026-11-27T10:01:00+07:00"}))
	var got []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Len(t, got, 3)
	require.Equal(t, "monitor-queues", got[2]["name"])
	require.Equal(t, "* * * * *", got[2]["expression"])
	require.Equal(t, true, got[2]["on_one_server"])

	// Nobody to tell, no check; the sync connection has no queues to check.
	for _, vals := range []map[string]string{{}, {"NOTIFY_SLACK_WEBHOOK_URL": "https://hooks.slack.test/x", "QUEUE_CONNECTION": "sync"}} {
		env, out := scheduleTestEnv(t, vals)
		require.NoError(t, Run(context.Background(), env, []string{"schedule:list", "--json"}))
		require.NotContains(t, out.String(), "monitor-queues")
	}
}

// A job that fails for good under `queue work` reaches Slack and Discord
// through the observer openQueue installs and the send job every worker
// runs.
func TestNotifyFailedJobUnderQueueWork(t *testing.T) {
	slack, discord := newWebhookRecorder(t), newWebhookRecorder(t)
	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{
		"NOTIFY_SLACK_WEBHOOK_URL": slack.URL + "/services/T/B/x", "NOTIFY_DISCORD_WEBHOOK_URL": discord.URL + "/api/webhooks/1/x",
		"NOTIFY_WINDOW": "1",
	})
	ctx := context.Background()
	env, out := newEnv()
	require.NoError(t, Run(ctx, env, []string{"queue", "push", "fail", "--args", `{"message":"supplier feed down"}`}), out.String())
	env, out = newEnv()
	start := time.Now()
	require.NoError(t, Run(ctx, env, []string{"queue", "work", "--queue", "notifications,default", "--max-time", "6", "--sleep", "0.1", "--quiet"}), out.String())
	require.GreaterOrEqual(t, time.Since(start), 5*time.Second)
	require.Len(t, slack.texts("text"), 1)
	require.Len(t, discord.texts("content"), 1)
	for _, msg := range []string{slack.texts("text")[0], discord.texts("content")[0]} {
		require.Contains(t, msg, "1× fail (queue default)")
		require.Contains(t, msg, "supplier feed down")
		require.Contains(t, msg, "/admin")
	}
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM ops_notifications WHERE sent_at IS NOT NULL"))
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM failed_jobs"))
}

// `queue monitor` finds a queue over --max; with a webhook configured the
// command records a queue-busy notification for the send job, once per
// queue and window, and leaves queues under the threshold alone.
func TestNotifyQueueMonitorRecordsBusyQueues(t *testing.T) {
	newEnv, db := queueTestEnv(t, store.SQLite, map[string]string{"NOTIFY_SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T/B/x"})
	ctx := context.Background()
	// The jobs go in through the driver: only the monitor's own
	// notifier is at work.
	params := make([]*driver.JobInsertParams, 5)
	for i := range params {
		params[i] = &driver.JobInsertParams{Queue: "emails", Kind: "noop", Payload: []byte(`{}`)}
	}
	_, err := tripinsqlite.New(db.DB, tripinsqlite.Options{}).JobInsertMany(ctx, params)
	require.NoError(t, err)
	for range 2 {
		env, out := newEnv()
		require.NoError(t, Run(ctx, env, []string{"queue", "monitor", "database:default,database:emails", "--max", "4"}), out.String())
		require.Contains(t, out.String(), "ALERT: queue [database:emails] has 5 jobs")
	}
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM ops_notifications WHERE kind = 'queue_busy'"))
	require.Equal(t, 0, countRows(t, db, "SELECT COUNT(*) FROM ops_notifications WHERE kind = 'queue_busy' AND subject LIKE '%default%'"))
	require.Equal(t, 1, countRows(t, db, "SELECT COUNT(*) FROM jobs WHERE queue = 'notifications'"))
}
