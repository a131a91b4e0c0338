package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// The test binary doubles as a scheduler process: with childEnv set it runs
// one tick against the database it is given and prints the results, like
// `tripin schedule run` does from cron.
const childEnv = "TRIPIN_SCHEDULE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// processEvents are the events every child process schedules.
func processEvents() []*Event {
	return []*Event{
		Job(kindArgs{"ProcOne"}).EveryMinute().Name("one").OnOneServer(),
		Job(kindArgs{"ProcBoth"}).EveryMinute().Name("both").OnOneServer().WithoutOverlapping(),
		Job(kindArgs{"ProcOverlap"}).EveryMinute().Name("overlap").WithoutOverlapping(),
	}
}

type childResult struct {
	Event   string
	Outcome Outcome
	JobID   int64
	Err     string
}

func childMain() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	ctx := context.Background()
	d := store.Dialect(os.Getenv("CHILD_DIALECT"))
	db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: os.Getenv("CHILD_DSN")})
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	tick, err := time.Parse(time.RFC3339, os.Getenv("CHILD_TICK"))
	if err != nil {
		return fail(err)
	}
	s, err := New(jakarta, processEvents()...)
	if err != nil {
		return fail(err)
	}
	var disp Dispatcher = &tableDispatcher{db: db}
	if os.Getenv("CHILD_TX") == "1" {
		disp = &txDispatcher{tableDispatcher{db: db}}
	}
	r, err := NewRunner(Config{Schedule: s, Dispatcher: disp, DB: db, Host: "child-" + strconv.Itoa(os.Getpid())})
	if err != nil {
		return fail(err)
	}
	// Start together, so the processes really race.
	startAt, _ := strconv.ParseInt(os.Getenv("CHILD_START_AT"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, startAt)))
	enc := json.NewEncoder(os.Stdout)
	for _, res := range r.RunTick(ctx, tick) {
		cr := childResult{Event: res.Event, Outcome: res.Outcome, JobID: res.JobID}
		if res.Err != nil {
			cr.Err = res.Err.Error()
		}
		if err := enc.Encode(cr); err != nil {
			return fail(err)
		}
	}
	return 0
}

// runProcesses starts n scheduler processes on the same tick and returns
// how many dispatched each event.
func runProcesses(t *testing.T, n int, d store.Dialect, dsn string, tick time.Time, tx bool) map[string]map[Outcome]int {
	t.Helper()
	startAt := time.Now().Add(1500 * time.Millisecond).UnixNano()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string]map[Outcome]int{}
	)
	txFlag := "0"
	if tx {
		txFlag = "1"
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_DIALECT="+string(d), "CHILD_DSN="+dsn,
				"CHILD_TICK="+tick.Format(time.RFC3339), "CHILD_START_AT="+strconv.FormatInt(startAt, 10), "CHILD_TX="+txFlag)
			cmd.Stderr = os.Stderr
			stdout, err := cmd.Output()
			require.NoError(t, err)
			dec := json.NewDecoder(bytes.NewReader(stdout))
			mu.Lock()
			defer mu.Unlock()
			for dec.More() {
				var cr childResult
				require.NoError(t, dec.Decode(&cr))
				require.Empty(t, cr.Err)
				if out[cr.Event] == nil {
					out[cr.Event] = map[Outcome]int{}
				}
				out[cr.Event][cr.Outcome]++
			}
		}()
	}
	wg.Wait()
	return out
}

// TestProcessesDispatchOncePerTick runs three separate scheduler processes
// per tick on every backend: each due event is dispatched exactly once per
// tick, and a WithoutOverlapping event whose job is still in the queue is
// dispatched by none of them.
func TestProcessesDispatchOncePerTick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		for _, tx := range []bool{false, true} {
			t.Run(fmt.Sprintf("tx=%v", tx), func(t *testing.T) {
				db, dsn := openDB(t, d)
				tick := at(jakarta, "2026-11-27 10:05:00")

				got := runProcesses(t, 3, d, dsn, tick, tx)
				require.Equal(t, map[Outcome]int{OutcomeDispatched: 1, OutcomeOtherServer: 2}, got["one"])
				require.Equal(t, map[Outcome]int{OutcomeDispatched: 1, OutcomeOtherServer: 2}, got["both"])
				require.Equal(t, map[Outcome]int{OutcomeDispatched: 1, OutcomeOverlapping: 2}, got["overlap"])
				require.Equal(t, 1, countJobs(t, db, "ProcOne"))
				require.Equal(t, 1, countJobs(t, db, "ProcBoth"))
				require.Equal(t, 1, countJobs(t, db, "ProcOverlap"))

				// Next tick: the overlapping events' jobs are still queued.
				got = runProcesses(t, 3, d, dsn, tick.Add(time.Minute), tx)
				require.Equal(t, map[Outcome]int{OutcomeDispatched: 1, OutcomeOtherServer: 2}, got["one"])
				require.Equal(t, map[Outcome]int{OutcomeOverlapping: 1, OutcomeOtherServer: 2}, got["both"])
				require.Equal(t, map[Outcome]int{OutcomeOverlapping: 3}, got["overlap"])
				require.Equal(t, 2, countJobs(t, db, "ProcOne"))
				require.Equal(t, 1, countJobs(t, db, "ProcBoth"))
				require.Equal(t, 1, countJobs(t, db, "ProcOverlap"))

				// The jobs finished: the next tick dispatches each once again.
				finishJobs(t, db, "ProcBoth")
				finishJobs(t, db, "ProcOverlap")
				got = runProcesses(t, 3, d, dsn, tick.Add(2*time.Minute), tx)
				require.Equal(t, 1, got["one"][OutcomeDispatched])
				require.Equal(t, 1, got["both"][OutcomeDispatched])
				require.Equal(t, 1, got["overlap"][OutcomeDispatched])
				require.Equal(t, 3, countJobs(t, db, "ProcOne"))
				require.Equal(t, 1, countJobs(t, db, "ProcBoth"))
				require.Equal(t, 1, countJobs(t, db, "ProcOverlap"))
			})
		}
	})
}
