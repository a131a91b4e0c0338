package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func scheduleTestEnv(t *testing.T, vals map[string]string) (*Env, *bytes.Buffer) {
	t.Helper()
	vals["APP_ENV"] = "testing"
	vals["LOG_FILE"] = filepath.Join(t.TempDir(), "tripin.log")
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Cfg: cfg}
	t.Cleanup(env.closeAll)
	return env, &out
}

func TestScheduleListJSON(t *testing.T) {
	env, out := scheduleTestEnv(t, map[string]string{})
	require.NoError(t, Run(context.Background(), env, []string{"schedule:list", "--json", "--time", "2026-11-27T10:01:00+07:00"}))
	var got []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Len(t, got, 2)
	require.Equal(t, "expire-unpaid-bookings", got[0]["name"])
	require.Equal(t, "*/5 * * * *", got[0]["expression"])
	require.Equal(t, "Asia/Jakarta", got[0]["timezone"])
	require.Equal(t, "2026-11-27T10:05:00+07:00", got[0]["next_due"])
	require.Equal(t, true, got[0]["without_overlapping"])
	require.Equal(t, true, got[0]["on_one_server"])
	// The hourly prune of every table with a retention, on one server,
	// never twice at once (its lock expires within the hour).
	require.Equal(t, "prune-old-records", got[1]["name"])
	require.Equal(t, "0 * * * *", got[1]["expression"])
	require.Equal(t, "PruneOldRecords", got[1]["kind"])
	require.Equal(t, "2026-11-27T11:00:00+07:00", got[1]["next_due"])
	require.Equal(t, true, got[1]["without_overlapping"])
	require.Equal(t, true, got[1]["on_one_server"])
	require.Equal(t, float64(55*60), got[1]["overlap_expiry_seconds"])
}

func TestScheduleListText(t *testing.T) {
	env, out := scheduleTestEnv(t, map[string]string{"APP_TIMEZONE": "UTC"})
	require.NoError(t, Run(context.Background(), env, []string{"schedule", "list", "--time", "2026-11-27T10:01:00Z"}))
	require.Equal(t, "*/5 * * * *  expire-unpaid-bookings .......... Next Due: 4 minutes from now  [mutex, one server]\n"+
		"0 * * * *    prune-old-records ............... Next Due: 59 minutes from now  [mutex, one server]\n", out.String())
}

func TestBookingsExpireCommand(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.NewDSN(t, store.SQLite)
	db, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: dsn})
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	now := time.Now().UTC()
	u := &booking.User{Name: "C", Email: "c@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, db.UserCreate(ctx, u))
	tour := &booking.Tour{Title: "Komodo", Destination: "Labuan Bajo", DepartureDate: "2030-01-01", Price: 100, Capacity: 10, Quota: 10, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, db.TourCreate(ctx, tour))
	old := booking.NewService(booking.ServiceParams{Store: db, Now: func() time.Time { return time.Now().Add(-time.Hour) }, Expiry: 30 * time.Minute})
	var codes []string
	for _, q := range []int{1, 2} {
		res, err := old.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: q})
		require.NoError(t, err)
		// The booking's times come from the database's clock: age it by
		// hand, as if made an hour ago.
		b := res.Booking
		_, err = db.ExecContext(ctx, "UPDATE bookings SET created_at = ?, expires_at = ? WHERE id = ?",
			b.CreatedAt.Add(-time.Hour), b.ExpiresAt.Add(-time.Hour), b.ID)
		require.NoError(t, err)
		codes = append(codes, res.Booking.Code)
	}

	env, out := scheduleTestEnv(t, map[string]string{"DB_DATABASE": dsn})
	require.NoError(t, Run(ctx, env, []string{"bookings:expire"}))
	// Standard output is not a terminal: the log lines are JSON
	// (LOG_FORMAT=auto).
	for _, c := range codes {
		require.Contains(t, out.String(), `"code":"`+c+`"`)
	}
	require.Contains(t, out.String(), "Expired 2 bookings older than 30 minutes; 3 seats returned to 1 tours")
	require.Contains(t, out.String(), "+3 seats")

	out.Reset()
	require.NoError(t, Run(ctx, env, []string{"bookings", "expire", "--json"}))
	var res map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	require.Equal(t, float64(0), res["expired"])
}

// buildTripin builds the tripin binary once per test run.
var buildTripin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tripin-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tripin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tripintravel/tripin/cmd/tripin").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// TestScheduleRunProcesses runs three `tripin schedule run` processes per
// tick against one database: the sweep is dispatched exactly once per due
// tick, and not at all while the job it dispatched is still queued.
func TestScheduleRunProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := buildTripin()
	require.NoError(t, err)
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		dsn := storetest.NewDSN(t, d)
		db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		workdir, logs := t.TempDir(), filepath.Join(t.TempDir(), "tripin.log")
		envVars := []string{"APP_ENV=testing", "DB_CONNECTION=" + string(d), "QUEUE_CONNECTION=database", "LOG_FILE=" + logs, "PATH=" + os.Getenv("PATH")}
		if d == store.SQLite {
			envVars = append(envVars, "DB_DATABASE="+dsn)
		} else {
			envVars = append(envVars, "DB_URL="+dsn)
		}
		run := func(tick string) map[string]int {
			var (
				mu       sync.Mutex
				wg       sync.WaitGroup
				outcomes = map[string]int{}
			)
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := exec.Command(bin, "schedule:run", "--json", "--time", tick)
					cmd.Dir, cmd.Env = workdir, envVars
					var stderr bytes.Buffer
					cmd.Stderr = &stderr
					out, err := cmd.Output()
					require.NoError(t, err, stderr.String())
					var lines []scheduleRunLine
					require.NoError(t, json.Unmarshal(out, &lines), string(out))
					mu.Lock()
					defer mu.Unlock()
					for _, l := range lines {
						require.Equal(t, expireUnpaidBookingsEvent, l.Event)
						outcomes[l.Outcome]++
					}
				}()
			}
			wg.Wait()
			return outcomes
		}
		jobs := func() int {
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM jobs WHERE kind = 'ExpireUnpaidBookings'").Scan(&n))
			return n
		}

		require.Empty(t, run("2026-11-27T10:04:00+07:00"), "not due at :04")
		require.Equal(t, map[string]int{"dispatched": 1, "other_server": 2}, run("2026-11-27T10:05:00+07:00"))
		require.Equal(t, 1, jobs())
		// Its job has not been worked yet: the next due tick dispatches nothing.
		require.Equal(t, map[string]int{"overlapping": 1, "other_server": 2}, run("2026-11-27T10:10:00+07:00"))
		require.Equal(t, 1, jobs())
		// Worked (the engine deletes a finished job): dispatched once again.
		_, err = db.Exec("DELETE FROM jobs")
		require.NoError(t, err)
		require.Equal(t, map[string]int{"dispatched": 1, "other_server": 2}, run("2026-11-27T10:15:00+07:00"))
		require.Equal(t, 1, jobs())

		b, err := os.ReadFile(logs)
		require.NoError(t, err)
		require.Contains(t, string(b), `"event":"expire-unpaid-bookings"`)
		require.True(t, strings.Contains(string(b), "schedule: skipped"))
	})
}
