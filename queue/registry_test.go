package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

type blockArgs struct {
	N int `json:"n"`
}

func (blockArgs) Kind() string { return "RegistryBlock" }

// TestWorkerRegistersProcess runs a worker through the operations hooks,
// as `queue work` does: its row appears with the jobs it runs, follows
// them, and goes when the worker stops.
func TestWorkerRegistersProcess(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		ctx := context.Background()
		release := make(chan struct{})
		queue.AddWorker(h.ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[blockArgs]) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}))
		ops, err := queue.NewOps(h.raw, &queue.OpsConfig{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ops.Close(context.Background()) })
		hooked := queue.WithHooks(h.raw, ops)
		reg, ok := hooked.(driver.Registry)
		require.True(t, ok, "the hooked driver hides the registry")
		_, ok = hooked.(driver.JobBrowser)
		require.True(t, ok, "the hooked driver hides the job browser")
		_, ok = hooked.(driver.Admin)
		require.True(t, ok)
		c, err := queue.NewClient(hooked, &queue.Config{Workers: h.ws, Location: time.UTC})
		require.NoError(t, err)

		var ids []int64
		for i := range 12 {
			res, err := c.Insert(ctx, blockArgs{N: i}, &queue.InsertOpts{Queue: "emails"})
			require.NoError(t, err)
			ids = append(ids, res.ID)
		}
		p := opsParams("emails", "default")
		p.StopWhenEmpty, p.Concurrency, p.HeartbeatInterval = false, 12, 20*time.Millisecond
		require.NoError(t, c.Start(ctx, p))
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				close(release)
				_ = c.Stop(context.Background())
			}
		})

		workers := func() []*driver.Process {
			list, err := reg.ProcessList(ctx, &driver.ProcessListParams{Kind: driver.ProcessWorker, StaleAfter: time.Minute})
			require.NoError(t, err)
			return list
		}
		eventually(t, "the worker's row with twelve running jobs", func() bool {
			list := workers()
			return len(list) == 1 && list[0].Running == 12
		})
		w := workers()[0]
		host, _ := os.Hostname()
		require.True(t, strings.HasPrefix(w.ID, fmt.Sprintf("%s:%d:", host, os.Getpid())), "id %q", w.ID)
		require.Equal(t, host, w.Host)
		require.Equal(t, os.Getpid(), w.PID)
		require.Equal(t, []string{"emails", "default"}, w.Queues)
		require.Equal(t, 12, w.Concurrency)
		want := make([]string, 10)
		for i := range want {
			want[i] = fmt.Sprintf("RegistryBlock#%d", ids[i])
		}
		require.Equal(t, want, w.Jobs, "the ten jobs taken first")
		require.Less(t, w.Age, 5*time.Second)

		// The browser sees the same jobs, reserved, through the hooks.
		reserved, err := hooked.(driver.JobBrowser).JobList(ctx, &driver.JobListParams{State: driver.JobStateReserved, Queue: "emails"})
		require.NoError(t, err)
		require.Len(t, reserved, 12)

		close(release)
		eventually(t, "the heartbeat to report no running jobs", func() bool {
			list := workers()
			return len(list) == 1 && list[0].Running == 0 && len(list[0].Jobs) == 0 && list[0].ID == w.ID
		})
		stopped = true
		require.NoError(t, c.Stop(ctx))
		all, err := reg.ProcessList(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, all, "a clean stop removes the row")
	})
}

// failingRegistry is a driver whose process registry always fails.
type failingRegistry struct {
	driver.Driver
	mu    sync.Mutex
	beats int
}

func (f *failingRegistry) ProcessHeartbeat(context.Context, *driver.Process) error {
	f.mu.Lock()
	f.beats++
	f.mu.Unlock()
	return errors.New("registry: table is locked")
}

func (f *failingRegistry) ProcessList(context.Context, *driver.ProcessListParams) ([]*driver.Process, error) {
	return nil, errors.New("registry: table is locked")
}

func (f *failingRegistry) ProcessRemove(context.Context, string) error {
	return errors.New("registry: table is locked")
}

func (f *failingRegistry) ProcessPrune(context.Context, time.Duration) (int, error) {
	return 0, errors.New("registry: table is locked")
}

func (f *failingRegistry) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beats
}

// TestHeartbeatFailuresNeverStopTheWorker: a registry that fails costs a
// warning in the log, not a job.
func TestHeartbeatFailuresNeverStopTheWorker(t *testing.T) {
	raw, _ := queuetest.Driver(t, sqldb.SQLite)
	fr := &failingRegistry{Driver: raw}
	ws := queue.NewWorkers()
	var done sync.WaitGroup
	done.Add(3)
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, j *queue.Job[blockArgs]) error {
		time.Sleep(30 * time.Millisecond) // long enough for heartbeats
		done.Done()
		return nil
	}))
	logs := &syncBuffer{}
	c, err := queue.NewClient(fr, &queue.Config{Workers: ws, Location: time.UTC, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	for i := range 3 {
		_, err := c.Insert(context.Background(), blockArgs{N: i}, nil)
		require.NoError(t, err)
	}
	p := opsParams("default")
	p.Concurrency, p.HeartbeatInterval = 1, 10*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, c.Run(ctx, p))
	done.Wait()
	require.GreaterOrEqual(t, fr.count(), 2, "heartbeats kept trying")
	require.Contains(t, logs.String(), "queue: process heartbeat")
	require.Contains(t, logs.String(), "registry: table is locked")
	require.Contains(t, logs.String(), "queue: remove process")
}

// memRegistry is a process registry in memory.
type memRegistry struct {
	mu      sync.Mutex
	beats   []driver.Process
	removed []string
}

func (m *memRegistry) ProcessHeartbeat(_ context.Context, p *driver.Process) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.beats = append(m.beats, *p)
	return nil
}

func (m *memRegistry) ProcessList(context.Context, *driver.ProcessListParams) ([]*driver.Process, error) {
	return nil, nil
}

func (m *memRegistry) ProcessRemove(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removed = append(m.removed, id)
	return nil
}

func (m *memRegistry) ProcessPrune(context.Context, time.Duration) (int, error) { return 0, nil }

func (m *memRegistry) snapshot() ([]driver.Process, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]driver.Process(nil), m.beats...), append([]string(nil), m.removed...)
}

func TestRegisterHeartbeatsUntilStop(t *testing.T) {
	reg := &memRegistry{}
	p := queue.NewProcess(driver.ProcessScheduler)
	require.Equal(t, driver.ProcessScheduler, p.Kind)
	require.NotEqual(t, p.ID, queue.NewProcess(driver.ProcessScheduler).ID, "two runs share an id")
	var mu sync.Mutex
	running := 0
	status := func() (int, []string) {
		mu.Lock()
		defer mu.Unlock()
		running++
		return running, []string{fmt.Sprint("Job#", running)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	rg := queue.Register(ctx, reg, p, queue.RegisterOptions{Interval: 5 * time.Millisecond, Status: status})
	require.Equal(t, p.ID, rg.ID())
	cancel() // the caller's context ending does not stop the heartbeats
	eventually(t, "three heartbeats", func() bool {
		beats, _ := reg.snapshot()
		return len(beats) >= 3
	})
	require.NoError(t, rg.Stop(context.Background()))
	require.NoError(t, rg.Stop(context.Background()))
	beats, removed := reg.snapshot()
	require.Equal(t, []string{p.ID}, removed, "Stop removes the row once")
	for i, b := range beats {
		require.Equal(t, p.ID, b.ID)
		require.Equal(t, i+1, b.Running, "each heartbeat asks for the status")
	}
	time.Sleep(20 * time.Millisecond)
	after, _ := reg.snapshot()
	require.Len(t, after, len(beats), "a heartbeat after Stop")
}

func TestPrunerDeletesStaleProcesses(t *testing.T) {
	eachOps(t, func(t *testing.T, h *opsHarness) {
		ctx := context.Background()
		reg, ok := h.adm.(driver.Registry)
		require.True(t, ok)
		for _, id := range []string{"alive", "dead"} {
			require.NoError(t, reg.ProcessHeartbeat(ctx, &driver.Process{ID: id, Kind: driver.ProcessWorker, Host: "h", PID: 1}))
		}
		_, err := h.db.ExecContext(ctx, h.db.Rebind("UPDATE queue_processes SET last_heartbeat = last_heartbeat - ? WHERE id = 'dead'"),
			int64((queue.StaleProcessAge+time.Minute)/time.Second))
		require.NoError(t, err)
		n, err := queue.NewPruner(h.adm, queue.RetentionConfig{}, nil).PruneOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		list, err := reg.ProcessList(ctx, nil)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "alive", list[0].ID)
	})
}

// lateRegistry is a registry whose heartbeat, like a statement a MySQL
// server goes on with after its client gave up, lands a while after it
// was sent, whether or not the caller still waits for it.
type lateRegistry struct {
	mu      sync.Mutex
	rows    map[string]bool
	sent    chan struct{}
	landed  sync.WaitGroup
	sentOne sync.Once
}

func (l *lateRegistry) ProcessHeartbeat(ctx context.Context, p *driver.Process) error {
	l.landed.Add(1)
	apply := make(chan struct{})
	go func() {
		defer l.landed.Done()
		time.Sleep(50 * time.Millisecond)
		l.mu.Lock()
		l.rows[p.ID] = true
		l.mu.Unlock()
		close(apply)
	}()
	l.sentOne.Do(func() { close(l.sent) })
	select {
	case <-apply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *lateRegistry) ProcessList(context.Context, *driver.ProcessListParams) ([]*driver.Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*driver.Process
	for id := range l.rows {
		out = append(out, &driver.Process{ID: id})
	}
	return out, nil
}

func (l *lateRegistry) ProcessRemove(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.rows, id)
	return nil
}

func (l *lateRegistry) ProcessPrune(context.Context, time.Duration) (int, error) { return 0, nil }

// TestStopWaitsForTheHeartbeatUnderWay: Stop lets a heartbeat that is
// under way land before it deletes the row, so that the row does not come
// back after a clean stop.
func TestStopWaitsForTheHeartbeatUnderWay(t *testing.T) {
	reg := &lateRegistry{rows: map[string]bool{}, sent: make(chan struct{})}
	rg := queue.Register(context.Background(), reg, queue.NewProcess(driver.ProcessWorker), queue.RegisterOptions{Interval: time.Hour})
	<-reg.sent // the first heartbeat is on its way
	require.NoError(t, rg.Stop(context.Background()))
	reg.landed.Wait()
	rows, err := reg.ProcessList(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, rows, "a heartbeat landed after the clean stop's delete")
}
