package dbbackup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
)

// writer books seats and queues a job for each booking in one transaction,
// as the booking service does, until stopped.
type writer struct {
	db     *store.DB
	drv    driver.Driver
	userID int64
	tourID int64
	n      atomic.Int64
}

func newWriter(t *testing.T) *writer {
	t.Helper()
	ctx := context.Background()
	drv, db := storetest.Driver(t, store.SQLite)
	now := time.Now().UTC()
	u := &booking.User{Name: "Ayu", Email: "ayu@example.test", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, db.UserCreate(ctx, u))
	tour := &booking.Tour{Title: "Bromo", Destination: "East Java", DepartureDate: "2030-01-01", Price: 100_000,
		Capacity: 1_000_000, Quota: 1_000_000, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, db.TourCreate(ctx, tour))
	return &writer{db: db, drv: drv, userID: u.ID, tourID: tour.ID}
}

func (w *writer) book(ctx context.Context) error {
	i := w.n.Add(1)
	now := time.Now().UTC()
	return w.db.InTx(ctx, func(tx *sql.Tx) error {
		b := &booking.Booking{Code: fmt.Sprintf("TRP-TEST-%06d", i), UserID: w.userID, TourID: w.tourID, Quantity: 1,
			UnitPrice: 100_000, TotalAmount: 100_000, Status: booking.StatusPending,
			ExpiresAt: now.Add(30 * time.Minute), CreatedAt: now, UpdatedAt: now}
		if err := w.db.BookingInsertTx(ctx, tx, b); err != nil {
			return err
		}
		_, err := w.drv.JobInsertManyTx(ctx, tx, []*driver.JobInsertParams{
			{Queue: "emails", Kind: "SendInvoiceEmail", Payload: fmt.Appendf(nil, `{"booking_id":%d}`, b.ID), MaxAttempts: 3},
		})
		return err
	})
}

func count(t *testing.T, db *sql.DB, table string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

// TestBackupWhileWriting copies the database while another goroutine books
// and queues jobs, and checks that each copy is whole and consistent: it
// passes its integrity check, holds every table, and holds as many
// bookings as invoice jobs, since each pair commits together.
func TestBackupWhileWriting(t *testing.T) {
	w := newWriter(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 200 {
		require.NoError(t, w.book(ctx))
	}
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := w.book(ctx); err != nil && ctx.Err() == nil {
				writeErr = err
				return
			}
		}
	}()

	dir := t.TempDir()
	var last int64
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		res, err := Backup(ctx, Params{DB: w.db, Path: path})
		require.NoError(t, err)
		require.Equal(t, "ok", res.Integrity)
		require.Equal(t, path, res.Path)
		require.Positive(t, res.Bytes)
		require.Positive(t, res.Migrations)

		copyDB, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		require.NoError(t, err)
		bookings, jobs := count(t, copyDB, "bookings"), count(t, copyDB, "jobs")
		require.NoError(t, copyDB.Close())
		require.GreaterOrEqual(t, bookings, int64(200))
		require.Equal(t, bookings, jobs, "a booking and its job commit together")
		require.GreaterOrEqual(t, bookings, last)
		last = bookings
		rows := map[string]int64{}
		for _, tb := range res.Tables {
			rows[tb.Name] = tb.Rows
		}
		require.Equal(t, bookings, rows["bookings"])
		require.Contains(t, rows, "failed_jobs")
		// Nothing is left beside the backup.
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, i+1)
	}
	cancel()
	wg.Wait()
	require.NoError(t, writeErr)
	require.Greater(t, w.n.Load(), last, "writes went on during the backups")
}

func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	dir := t.TempDir()
	path := filepath.Join(dir, "tripin.backup.db")
	require.NoError(t, os.WriteFile(path, []byte("an older backup"), 0o600))

	_, err := Backup(ctx, Params{DB: db, Path: path})
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "exists; pass --force")
	old, _ := os.ReadFile(path)
	require.Equal(t, "an older backup", string(old))

	res, err := Backup(ctx, Params{DB: db, Path: path, Force: true})
	require.NoError(t, err)
	require.Equal(t, "ok", res.Integrity)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, res.Bytes, st.Size())

	_, err = Backup(ctx, Params{DB: db, Path: db.Name, Force: true})
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "is the database itself")

	_, err = Backup(ctx, Params{DB: db, Path: dir, Force: true})
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "is a directory")

	_, err = Backup(ctx, Params{DB: db, Path: filepath.Join(dir, "missing", "b.db")})
	require.ErrorAs(t, err, &refused)
	require.Contains(t, err.Error(), "does not exist")

	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		if d == store.SQLite {
			return
		}
		server := storetest.Open(t, d)
		_, err := Backup(ctx, Params{DB: server, Path: filepath.Join(t.TempDir(), "b.db")})
		require.True(t, errors.As(err, &refused), "%v", err)
		tool := map[store.Dialect]string{store.MySQL: "mysqldump", store.PgSQL: "pg_dump"}[d]
		require.Contains(t, err.Error(), tool)
		require.Contains(t, err.Error(), "docs/OPERATIONS.md")
	})
}

// TestVerifyRefusesCorruptCopy checks that verification refuses a copy
// whose pages are damaged, and one that lacks a table of the source.
func TestVerifyRefusesCorruptCopy(t *testing.T) {
	ctx := context.Background()
	w := newWriter(t)
	for range 500 {
		require.NoError(t, w.book(ctx))
	}
	good := filepath.Join(t.TempDir(), "good.db")
	_, err := Backup(ctx, Params{DB: w.db, Path: good})
	require.NoError(t, err)
	src, err := sourceState(ctx, w.db)
	require.NoError(t, err)

	// Overwrite pages in the middle of the file, past the schema page.
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	for i := len(data) / 2; i < len(data)/2+8192 && i < len(data); i++ {
		data[i] = 0x5a
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	require.NoError(t, os.WriteFile(bad, data, 0o600))
	_, err = verify(ctx, bad, src)
	require.ErrorContains(t, err, "the copy failed its integrity check")

	// A copy that lacks a table of the source.
	src.tables = append(src.tables, "bookings_archive")
	_, err = verify(ctx, good, src)
	require.ErrorContains(t, err, "lacks table(s) bookings_archive")
}
