package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

type readyzAnswer struct {
	Data struct {
		Status   string               `json:"status"`
		Database string               `json:"database"`
		Parts    []httpapi.PartStatus `json:"parts"`
	} `json:"data"`
	Error *struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// TestReadyzParts checks /readyz against the parts a process reports: all
// listed while ready, a disabled or restarting part is no failure, and a
// part that is down makes a 503 that names it and says why.
func TestReadyzParts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
		require.NoError(t, err)
		db := storetest.Open(t, d)
		started := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
		beat := started.Add(time.Minute)
		var mu sync.Mutex
		parts := []httpapi.PartStatus{
			{Name: "worker", State: httpapi.PartUp, StartedAt: &started, Restarts: 2},
			{Name: "scheduler", State: httpapi.PartDisabled},
		}
		set := func(ps ...httpapi.PartStatus) {
			mu.Lock()
			defer mu.Unlock()
			parts = ps
		}
		srv := httptest.NewServer(httpapi.New(httpapi.Params{Config: cfg, DB: db, Parts: func() []httpapi.PartStatus {
			mu.Lock()
			defer mu.Unlock()
			return append([]httpapi.PartStatus(nil), parts...)
		}}))
		defer srv.Close()
		get := func() (int, readyzAnswer) {
			t.Helper()
			res, err := http.Get(srv.URL + "/readyz")
			require.NoError(t, err)
			defer res.Body.Close()
			var a readyzAnswer
			require.NoError(t, json.NewDecoder(res.Body).Decode(&a))
			return res.StatusCode, a
		}

		code, a := get()
		require.Equal(t, http.StatusOK, code)
		require.Nil(t, a.Error)
		require.Equal(t, "ready", a.Data.Status)
		require.Equal(t, string(d), a.Data.Database)
		require.Len(t, a.Data.Parts, 3)
		require.Equal(t, httpapi.PartStatus{Name: "database", State: httpapi.PartUp, Detail: string(d)}, a.Data.Parts[0])
		require.Equal(t, "worker", a.Data.Parts[1].Name)
		require.True(t, started.Equal(*a.Data.Parts[1].StartedAt))
		require.Equal(t, 2, a.Data.Parts[1].Restarts)
		require.Equal(t, httpapi.PartDisabled, a.Data.Parts[2].State, "a part left out by a flag is listed, not down")

		// Restarting is not down yet.
		set(httpapi.PartStatus{Name: "worker", State: httpapi.PartRestarting, Error: "queue: too many abandoned jobs"},
			httpapi.PartStatus{Name: "scheduler", State: httpapi.PartUp, LastHeartbeat: &beat})
		code, a = get()
		require.Equal(t, http.StatusOK, code)
		require.True(t, beat.Equal(*a.Data.Parts[2].LastHeartbeat))

		// Two parts down: both named, each with its reason.
		set(httpapi.PartStatus{Name: "worker", State: httpapi.PartDown, Error: "queue: too many abandoned jobs"},
			httpapi.PartStatus{Name: "scheduler", State: httpapi.PartDown, Error: "schedule: start: read the database clock: timeout."})
		code, a = get()
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.NotNil(t, a.Error)
		require.Equal(t, "unavailable", a.Error.Code)
		require.Equal(t, "Not ready: worker is down (queue: too many abandoned jobs); scheduler is down (schedule: start: read the database clock: timeout).", a.Error.Message)
		require.Equal(t, map[string]string{
			"worker": "queue: too many abandoned jobs", "scheduler": "schedule: start: read the database clock: timeout.",
		}, a.Error.Fields)

		// The database's own checks still count: pending migrations.
		set()
		_, err = db.ExecContext(context.Background(), "DELETE FROM migrations")
		require.NoError(t, err)
		code, a = get()
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Contains(t, a.Error.Message, "database is down")
		require.Contains(t, a.Error.Fields["database"], "pending; run 'tripin migrate'")
	})
}

// TestReadyzDatabaseUnreachable closes the database under the server: the
// answer says so without the driver's error, which may name hosts.
func TestReadyzDatabaseUnreachable(t *testing.T) {
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	require.NoError(t, err)
	db := storetest.Open(t, store.SQLite)
	srv := httptest.NewServer(httpapi.New(httpapi.Params{Config: cfg, DB: db}))
	defer srv.Close()
	require.NoError(t, db.Close())
	res, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	defer res.Body.Close()
	var a readyzAnswer
	require.NoError(t, json.NewDecoder(res.Body).Decode(&a))
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, map[string]string{"database": "The database is unreachable."}, a.Error.Fields)
	require.Equal(t, "Not ready: database is down (The database is unreachable).", a.Error.Message)
}
