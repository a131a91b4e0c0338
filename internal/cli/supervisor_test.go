package cli

import (
	"context"
	"encoding/json"
	"errors"
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

// partRuns records a supervised part's runs: when each started, and lets
// the test decide how each ends.
type partRuns struct {
	mu     sync.Mutex
	starts []time.Time
	// end is called by each run with its number (from 1) and returns what
	// the run returns; a nil end blocks until ctx ends.
	end func(ctx context.Context, n int) error
}

func (p *partRuns) run(ctx context.Context) error {
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	n := len(p.starts)
	p.mu.Unlock()
	if p.end == nil {
		<-ctx.Done()
		return nil
	}
	return p.end(ctx, n)
}

func (p *partRuns) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.starts)
}

func (p *partRuns) gaps() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(p.starts); i++ {
		out = append(out, p.starts[i].Sub(p.starts[i-1]))
	}
	return out
}

func stopSupervisor(t *testing.T, s *supervisor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Stop(ctx))
}

func TestBackoffDelay(t *testing.T) {
	for failures, want := range map[int]time.Duration{
		1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 50: time.Minute,
	} {
		require.Equal(t, want, backoffDelay(time.Second, time.Minute, failures), "failures=%d", failures)
	}
}

func TestSupervisorRestartsAFailingPartWithBackoff(t *testing.T) {
	boom := errors.New("queue: work: read restart signal: database is locked")
	runs := &partRuns{end: func(ctx context.Context, n int) error { return boom }}
	s := newSupervisor(supervisorParams{Name: "worker", Run: runs.run,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond,
		Settle: time.Hour, DownAfter: time.Hour})
	require.NoError(t, s.Start(context.Background()))
	waitUntil(t, 30*time.Second, "six runs", func() bool { return runs.count() >= 6 })
	stopSupervisor(t, s)

	// Every restart waited at least its backoff: 20ms doubling, capped at
	// 80ms. (Only lower bounds: a loaded machine may wait longer.)
	want := []time.Duration{20, 40, 80, 80, 80}
	gaps := runs.gaps()
	for i, w := range want {
		require.GreaterOrEqual(t, gaps[i], w*time.Millisecond, "restart %d waited %s", i+1, gaps[i])
	}
	st := s.Status()
	require.Equal(t, httpapi.PartStopped, st.State)
	require.Equal(t, runs.count()-1, st.Restarts)
	n := runs.count()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, n, runs.count(), "nothing is restarted after Stop")
}

func TestSupervisorReportsDownThenUp(t *testing.T) {
	var mu sync.Mutex
	failing := true
	runs := &partRuns{end: func(ctx context.Context, n int) error {
		mu.Lock()
		f := failing
		mu.Unlock()
		if f {
			return errors.New("queue: too many abandoned jobs; the worker must be replaced")
		}
		<-ctx.Done()
		return nil
	}}
	s := newSupervisor(supervisorParams{Name: "worker", Run: runs.run,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Settle: 200 * time.Millisecond, DownAfter: 150 * time.Millisecond})
	require.Equal(t, httpapi.PartStarting, s.Status().State)
	require.NoError(t, s.Start(context.Background()))
	defer stopSupervisor(t, s)

	waitUntil(t, 30*time.Second, "the part is down", func() bool { return s.Status().State == httpapi.PartDown })
	st := s.Status()
	require.Contains(t, st.Error, "too many abandoned jobs")
	require.NotNil(t, st.DownSince)
	require.NotNil(t, st.StartedAt)
	require.Positive(t, st.Restarts)

	// The cause goes away: the next run lasts, and once it has run for
	// Settle the part is up again, with no error.
	mu.Lock()
	failing = false
	mu.Unlock()
	waitUntil(t, 30*time.Second, "the part is up", func() bool { return s.Status().State == httpapi.PartUp })
	st = s.Status()
	require.Empty(t, st.Error)
	require.Nil(t, st.DownSince)
}

func TestSupervisorRestartsACleanExitAndAPanic(t *testing.T) {
	runs := &partRuns{end: func(ctx context.Context, n int) error {
		switch n {
		case 1:
			return nil // `queue restart`: the run ends cleanly
		case 2:
			panic("nil map")
		}
		<-ctx.Done()
		return nil
	}}
	s := newSupervisor(supervisorParams{Name: "scheduler", Run: runs.run, MinBackoff: 10 * time.Millisecond,
		Heartbeat: func() time.Time { return time.Unix(1700000000, 0) }})
	require.NoError(t, s.Start(context.Background()))
	defer stopSupervisor(t, s)
	waitUntil(t, 30*time.Second, "the third run", func() bool { return runs.count() == 3 })
	st := s.Status()
	require.Equal(t, 2, st.Restarts)
	// The panic is a failure, reported while the restarted run settles.
	require.Equal(t, httpapi.PartRestarting, st.State)
	require.Contains(t, st.Error, "panic: nil map")
	require.NotNil(t, st.LastHeartbeat)
	require.Equal(t, int64(1700000000), st.LastHeartbeat.Unix())
}

// TestReadyzReportsASupervisedPartDown runs the API with a worker whose
// every start fails: /readyz answers 503 naming the worker and why, while
// a disabled scheduler is listed as disabled, not down.
func TestReadyzReportsASupervisedPartDown(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	boom := errors.New("queue: work: read restart signal: no such table: cache")
	runs := &partRuns{end: func(ctx context.Context, n int) error { return boom }}
	worker := newSupervisor(supervisorParams{Name: "worker", Run: runs.run,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, DownAfter: 300 * time.Millisecond})
	parts := newServeParts(true, false)
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "LOG_FILE": ""})
	require.NoError(t, err)
	api := httptest.NewServer(httpapi.New(httpapi.Params{Config: cfg, DB: db, Parts: parts.Statuses}))
	defer api.Close()

	type readyz struct {
		Data struct {
			Status string               `json:"status"`
			Parts  []httpapi.PartStatus `json:"parts"`
		} `json:"data"`
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	get := func() (int, readyz) {
		res, err := http.Get(api.URL + "/readyz")
		require.NoError(t, err)
		defer res.Body.Close()
		var body readyz
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		return res.StatusCode, body
	}

	// Before the worker starts it is "starting"; the process is ready.
	code, body := get()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready", body.Data.Status)
	require.Len(t, body.Data.Parts, 3)
	states := map[string]string{}
	for _, p := range body.Data.Parts {
		states[p.Name] = p.State
	}
	require.Equal(t, map[string]string{"database": "up", "worker": "starting", "scheduler": "disabled"}, states)

	require.NoError(t, worker.Start(context.Background()))
	parts.add(worker)
	defer stopSupervisor(t, worker)
	waitUntil(t, 30*time.Second, "/readyz answers 503", func() bool {
		code, _ := get()
		return code == http.StatusServiceUnavailable
	})
	code, body = get()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "unavailable", body.Error.Code)
	require.Contains(t, body.Error.Message, "worker is down")
	require.Contains(t, body.Error.Message, "no such table: cache")
	require.Equal(t, map[string]string{"worker": boom.Error()}, body.Error.Fields, "only the failing part is named")
	require.Greater(t, runs.count(), 2, "the worker was restarted before it was reported down")
}

// TestSupervisorReportsAWedgedPartDown: a part whose run has not returned
// but whose heartbeat stopped is reported down with the reason, and up
// again once its heartbeat moves.
func TestSupervisorReportsAWedgedPartDown(t *testing.T) {
	var mu sync.Mutex
	beat := time.Now()
	heartbeat := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return beat
	}
	runs := &partRuns{}
	s := newSupervisor(supervisorParams{Name: "worker", Run: runs.run, Heartbeat: heartbeat, StaleAfter: time.Minute})
	clock := time.Now()
	s.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	require.NoError(t, s.Start(context.Background()))
	defer stopSupervisor(t, s)
	require.Eventually(t, func() bool { return runs.count() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, httpapi.PartUp, s.Status().State)

	mu.Lock()
	clock = clock.Add(2 * time.Minute)
	mu.Unlock()
	st := s.Status()
	require.Equal(t, httpapi.PartDown, st.State)
	require.Contains(t, st.Error, "no heartbeat for 2m0s")

	mu.Lock()
	beat = clock
	mu.Unlock()
	require.Equal(t, httpapi.PartUp, s.Status().State)
	require.Equal(t, 1, runs.count(), "a wedged run is reported, not restarted")
}
