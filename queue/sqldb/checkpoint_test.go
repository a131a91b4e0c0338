package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue/sqldb"
)

// walLoad is the size of a WAL test. The default sizes would write
// 160 MB, which takes minutes under the race detector on a busy two-core
// machine, so CI runs the same scenario scaled down sixteen times: the log
// is reset at 1 MiB instead of 16 MiB, and each commit writes one row
// instead of sixteen. TRIPIN_LONG_TESTS=1 runs it at full size.
type walLoad struct {
	restartBytes           int64
	commits, rowsPerCommit int
}

func walTestLoad() walLoad {
	if os.Getenv("TRIPIN_LONG_TESTS") == "1" {
		return walLoad{restartBytes: sqldb.WALRestartBytes, commits: 2400, rowsPerCommit: 16}
	}
	return walLoad{restartBytes: 1 << 20, commits: 3000, rowsPerCommit: 1}
}

// bound is the most WAL the store may keep on disk under sustained load:
// four times the size that asks for a reset, which is the 64 MiB that the
// booking load test is held to at the default size (docs/BENCHMARKS.md).
func (l walLoad) bound() int64 { return 4 * l.restartBytes }

// openWALTestDB opens a fresh SQLite database with a table of 4 KB rows.
func openWALTestDB(t *testing.T, l walLoad) (*sqldb.DB, func() int64) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := sqldb.Open(ctx, sqldb.OpenParams{Dialect: sqldb.SQLite, DSN: path, WALRestartBytes: l.restartBytes})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.ExecContext(ctx, "CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
	require.NoError(t, err)
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		require.NoError(t, err)
		return fi.Size()
	}
	return db, walSize
}

// fillerCommit commits one transaction of rows 4 KB rows (a row of 16 is
// about as many WAL pages as a group of booking commits writes).
func fillerCommit(ctx context.Context, db *sqldb.DB, rows int) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < rows; i++ {
			if _, err := tx.ExecContext(ctx, "INSERT INTO filler (body) VALUES (zeroblob(4000))"); err != nil {
				return err
			}
		}
		return nil
	})
}

// readSnapshot opens a read transaction on the read pool and reads from
// the table, which makes SQLite take the snapshot the transaction keeps
// until it ends.
func readSnapshot(ctx context.Context, db *sqldb.DB) (*sql.Tx, error) {
	tx, err := db.Read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM filler WHERE id > (SELECT MAX(id) - 10 FROM filler)").Scan(&n); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// TestSQLiteWALBoundedUnderReaders is checkpoint starvation as it happens
// under booking load: at every moment some reader holds a snapshot (each
// relay opens its next read transaction before ending the previous one,
// as the read pool, the dashboard and /metrics scrapes do between them)
// while a writer commits many times the WAL's bound. PASSIVE checkpoints
// alone never reset the log then, and it grows by everything written; the
// WAL must stay under the bound, and once the writes stop it must be
// truncated to nothing although the readers go on.
func TestSQLiteWALBoundedUnderReaders(t *testing.T) {
	ctx := context.Background()
	load := walTestLoad()
	db, walSize := openWALTestDB(t, load)
	require.NoError(t, fillerCommit(ctx, db, 1))

	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		reads   atomic.Int64
		readErr = make(chan error, 4)
	)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held, err := readSnapshot(ctx, db)
			if err != nil {
				readErr <- err
				return
			}
			defer func() { held.Rollback() }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				next, err := readSnapshot(ctx, db)
				if err != nil {
					readErr <- err
					return
				}
				held.Rollback()
				held = next
				reads.Add(1)
				// The snapshot stays open while the relay pauses, so it
				// is always a little behind the writer.
				time.Sleep(time.Millisecond)
			}
		}()
	}
	stopReaders := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer stopReaders()

	// The commits write 6 (CI) or 2.5 (full size) times the bound in WAL
	// frames. The writer sleeps a millisecond between commits, as a
	// server does between bursts of requests; without it a fast disk would
	// let one commit loop outrun any checkpoint schedule.
	var peak int64
	for i := 0; i < load.commits; i++ {
		require.NoError(t, fillerCommit(ctx, db, load.rowsPerCommit))
		peak = max(peak, walSize())
		time.Sleep(time.Millisecond)
	}
	t.Logf("peak WAL %.2f MiB (bound %.0f MiB) over %d commits, %d read transactions",
		float64(peak)/(1<<20), float64(load.bound())/(1<<20), load.commits, reads.Load())
	require.Positive(t, reads.Load(), "the readers held snapshots during the writes")
	require.LessOrEqual(t, peak, load.bound(), "the WAL outgrew its bound while readers held snapshots")

	// With the writer idle and the readers still reading, the WAL goes
	// back to nothing.
	require.Eventually(t, func() bool { return walSize() == 0 }, 30*time.Second, 20*time.Millisecond,
		"the WAL is truncated once the writes stop (it is %d bytes)", walSize())
	stopReaders()
	select {
	case err := <-readErr:
		t.Fatalf("a reader failed: %v", err)
	default:
	}
	var n int
	require.NoError(t, db.Read.QueryRowContext(ctx, "SELECT COUNT(*) FROM filler").Scan(&n))
	require.Equal(t, 1+load.commits*load.rowsPerCommit, n, "every committed row is in the database after the resets")
}

// TestSQLiteWALStuckReader holds one snapshot open for the whole run, as
// an sqlite3 shell left inside a transaction would. No checkpoint can
// reset the log past that snapshot, so the WAL grows; the RESTART attempts
// must give up without failing any write, and once the reader lets go the
// WAL must be truncated.
func TestSQLiteWALStuckReader(t *testing.T) {
	ctx := context.Background()
	load := walTestLoad()
	db, walSize := openWALTestDB(t, load)
	require.NoError(t, fillerCommit(ctx, db, 1))
	stuck, err := readSnapshot(ctx, db)
	require.NoError(t, err)
	defer stuck.Rollback()

	// About three times the size that asks for a RESTART, so that several
	// attempts run out of time.
	for i := 0; i < load.commits && walSize() < 3*load.restartBytes; i++ {
		require.NoError(t, fillerCommit(ctx, db, load.rowsPerCommit), "a checkpoint that gives up must not fail a write")
		time.Sleep(time.Millisecond)
	}
	require.GreaterOrEqual(t, walSize(), 3*load.restartBytes, "the stuck snapshot keeps the log from being reset")
	var n int
	require.NoError(t, stuck.QueryRowContext(ctx, "SELECT COUNT(*) FROM filler").Scan(&n))
	require.Equal(t, 1, n, "the stuck reader still sees its snapshot")

	require.NoError(t, stuck.Rollback())
	require.Eventually(t, func() bool { return walSize() == 0 }, 30*time.Second, 20*time.Millisecond,
		"the WAL is truncated once the reader lets go (it is %d bytes)", walSize())
}
