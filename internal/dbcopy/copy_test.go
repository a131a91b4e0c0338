package dbcopy_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dbcopy"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

// copyPairs are the (source, target) dialects this run can copy between:
// SQLite to SQLite always, and to and from each server whose DSN is set.
func copyPairs() [][2]store.Dialect {
	pairs := [][2]store.Dialect{{store.SQLite, store.SQLite}}
	has := map[store.Dialect]bool{}
	for _, d := range storetest.Dialects() {
		has[d] = true
	}
	if has[store.MySQL] {
		pairs = append(pairs, [2]store.Dialect{store.SQLite, store.MySQL})
	}
	if has[store.PgSQL] {
		pairs = append(pairs, [2]store.Dialect{store.SQLite, store.PgSQL}, [2]store.Dialect{store.PgSQL, store.SQLite})
	}
	if has[store.MySQL] && has[store.PgSQL] {
		pairs = append(pairs, [2]store.Dialect{store.MySQL, store.PgSQL})
	}
	return pairs
}

func queueDriverFor(t *testing.T, db *store.DB) interface {
	driver.Driver
	driver.Admin
	driver.JobBrowser
} {
	t.Helper()
	switch db.Dialect {
	case store.MySQL:
		d, err := tripinmysql.New(context.Background(), db.DB, tripinmysql.Options{})
		require.NoError(t, err)
		return d
	case store.PgSQL:
		return tripinpgsql.New(db.DB, tripinpgsql.Options{})
	default:
		return tripinsqlite.New(db.DB, tripinsqlite.Options{})
	}
}

const copyServerKey = "SB-Mid-server-copy-test"

// copySeed is what seedCopySource wrote, to compare against the target.
type copySeed struct {
	users    []int64
	tours    []int64
	bookings []int64
	token    string
	batchID  string
}

// seedCopySource fills db through the app's own store, payment and queue
// code: users (one admin), a token, tours (one with awkward text),
// bookings in several states, a settled Midtrans payment, jobs (pending,
// delayed, reserved, unique, in a batch), a failed job, a finished job
// (so the jobs sequence is ahead of the largest id), a batch, a cache
// entry and a lock.
func seedCopySource(t *testing.T, db *store.DB) *copySeed {
	t.Helper()
	ctx := context.Background()
	s := &copySeed{}
	admin := &booking.User{Name: "Admin", Email: "admin@copy.test", PasswordHash: "$2a$10$hash", IsAdmin: true, CreatedAt: storetest.SeedNow, UpdatedAt: storetest.SeedNow}
	require.NoError(t, db.UserCreate(ctx, admin))
	u1, u2 := storetest.SeedUser(t, db, "ana@copy.test"), storetest.SeedUser(t, db, "budi@copy.test")
	s.users = []int64{admin.ID, u1.ID, u2.ID}
	s.token = strings.Repeat("ab", 32)
	require.NoError(t, db.TokenCreate(ctx, u1.ID, "api", s.token, storetest.SeedNow, storetest.SeedNow.Add(time.Hour)))

	t1 := storetest.SeedTour(t, db, "2027-01-10", 20)
	t2 := storetest.SeedTour(t, db, "2027-02-14", 5)
	odd := &booking.Tour{Title: `Bali "Ubud" — it's 100% café 🌋`, Destination: "Bali\\Ubud", Description: "line one\nline two\ttab '; DROP TABLE tours; --",
		DepartureDate: "2027-03-01", Price: 9_800_000, Capacity: 12, Quota: 12, CreatedAt: storetest.SeedNow.Add(time.Second), UpdatedAt: storetest.SeedNow.Add(1500 * time.Millisecond)}
	require.NoError(t, db.TourCreate(ctx, odd))
	s.tours = []int64{t1.ID, t2.ID, odd.ID}

	b1, err := storetest.SeedBooking(t, db, u1, t1, 2, "TRP-COPY-1")
	require.NoError(t, err)
	b2, err := storetest.SeedBooking(t, db, u2, t1, 1, "TRP-COPY-2")
	require.NoError(t, err)
	b3, err := storetest.SeedBooking(t, db, u2, t2, 3, "TRP-COPY-3")
	require.NoError(t, err)
	s.bookings = []int64{b1.ID, b2.ID, b3.ID}
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := db.BookingReleaseTx(ctx, tx, b2.ID, booking.StatusCancelled, storetest.SeedNow.Add(5*time.Minute))
		return err
	}))

	// The payment is seeded offline: no Midtrans to confirm it with.
	cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing", "MIDTRANS_SERVER_KEY": copyServerKey, "MIDTRANS_VERIFY_STATUS": "false"})
	require.NoError(t, err)
	pay, err := payment.New(payment.Params{DB: db, Config: cfg, Now: func() time.Time { return storetest.SeedNow.Add(2 * time.Minute) }})
	require.NoError(t, err)
	gross := fmt.Sprintf("%d.00", b1.TotalAmount)
	raw, err := json.Marshal(map[string]string{
		"order_id": b1.Code, "status_code": "200", "gross_amount": gross, "transaction_status": "settlement",
		"transaction_id": "tx-copy-1", "payment_type": "bank_transfer", "fraud_status": "accept",
		"signature_key": midtrans.Signature(b1.Code, "200", gross, copyServerKey),
	})
	require.NoError(t, err)
	_, err = pay.HandleNotification(ctx, raw)
	require.NoError(t, err)
	paid, err := db.BookingGet(ctx, b1.ID)
	require.NoError(t, err)
	require.Equal(t, booking.StatusPaid, paid.Status, "the seeded payment must have settled the booking")

	q := queueDriverFor(t, db)
	s.batchID = "0b9e4a52-7c1d-4f3e-9a8b-1c2d3e4f5a6b"
	_, err = q.BatchCreate(ctx, &driver.BatchCreateParams{ID: s.batchID, Name: "nightly", TotalJobs: 2, Options: []byte(`{"allow_failures":true}`)})
	require.NoError(t, err)
	var jobs []*driver.JobInsertParams
	for i := range 6 {
		p := &driver.JobInsertParams{UUID: fmt.Sprintf("6ba7b810-9dad-11d1-80b4-00c04fd430%02d", i), Queue: "default", Kind: "noop",
			Payload: []byte(fmt.Sprintf(`{"n":%d,"text":"ünïcode \"quoted\""}`, i)), MaxAttempts: 3}
		switch i {
		case 3:
			p.Delay = time.Hour
		case 4:
			p.UniqueKey = "invoice:42"
		case 5:
			p.BatchID = s.batchID
		}
		jobs = append(jobs, p)
	}
	_, err = q.JobInsertMany(ctx, jobs)
	require.NoError(t, err)
	claimed, err := q.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"default"}, Max: 3, WorkerID: "copy-test", RetryAfter: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 3)
	stale, err := q.JobFailMany(ctx, []*driver.JobFailParams{{ID: claimed[0].ID, WorkerID: "copy-test", Claim: 1, Connection: "database", Exception: "boom\nstack line"}})
	require.NoError(t, err)
	require.Empty(t, stale)
	stale, err = q.JobCompleteMany(ctx, driver.CompleteParamsOf(claimed[1:2]))
	require.NoError(t, err)
	require.Empty(t, stale)
	// The newest job finishes too, so the source's next job id is above
	// the largest one left: the target must continue from there.
	all, err := q.JobList(ctx, &driver.JobListParams{State: driver.JobStatePending, Limit: 100})
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, db.Rebind("DELETE FROM jobs WHERE id = ?"), all[len(all)-1].ID)
	require.NoError(t, err)
	require.NoError(t, q.CachePut(ctx, "signal:restart", "1764000000", time.Hour))
	ok, err := q.LockAcquire(ctx, &driver.LockAcquireParams{Key: "schedule:expire", Owner: "host-1", TTL: time.Hour})
	require.NoError(t, err)
	require.True(t, ok)
	return s
}

func TestCopyBetweenDialects(t *testing.T) {
	for _, pair := range copyPairs() {
		t.Run(string(pair[0])+"_to_"+string(pair[1]), func(t *testing.T) {
			ctx := context.Background()
			src := storetest.Open(t, pair[0])
			seed := seedCopySource(t, src)
			dst, err := store.Open(ctx, store.OpenParams{Dialect: pair[1], DSN: storetest.NewDSN(t, pair[1])})
			require.NoError(t, err)
			t.Cleanup(func() { dst.Close() })

			res, err := dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst, BatchRows: 2})
			require.NoError(t, err)
			require.True(t, res.Verified, "mismatched: %v", res.Mismatched())
			pending, err := dst.Pending(ctx)
			require.NoError(t, err)
			require.Empty(t, pending, "the empty target is migrated to current")
			require.NotEmpty(t, res.Migrated)

			// Every table the migrations create is copied, the queue's
			// included, and the counts are the real ones.
			got := map[string]dbcopy.Table{}
			for _, ct := range res.Tables {
				got[ct.Table] = ct
			}
			for _, table := range []string{"users", "personal_access_tokens", "tours", "bookings", "payment_notifications",
				"jobs", "job_batches", "failed_jobs", "cache", "cache_locks", "queue_processes", "schedule_runs"} {
				ct, ok := got[table]
				require.True(t, ok, "table %s was not copied", table)
				var n int64
				require.NoError(t, dst.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
				require.Equal(t, ct.SourceRows, n, table)
				require.Equal(t, ct.SourceRows, ct.TargetRows, table)
				require.True(t, ct.Verified, table)
			}
			require.NotContains(t, got, "migrations")
			require.EqualValues(t, 3, got["users"].SourceRows)
			require.EqualValues(t, 3, got["jobs"].SourceRows)
			require.EqualValues(t, 1, got["failed_jobs"].SourceRows)
			require.EqualValues(t, 1, got["payment_notifications"].SourceRows)
			order := map[string]int{}
			for i, ct := range res.Tables {
				order[ct.Table] = i
			}
			require.Less(t, order["users"], order["bookings"])
			require.Less(t, order["tours"], order["bookings"])
			require.Less(t, order["users"], order["personal_access_tokens"])

			// The app reads the same things back from the target, times
			// included.
			for _, id := range seed.users {
				want, err := src.UserGet(ctx, id)
				require.NoError(t, err)
				have, err := dst.UserGet(ctx, id)
				require.NoError(t, err)
				require.Equal(t, want, have)
			}
			for _, id := range seed.tours {
				want, err := src.TourGet(ctx, id)
				require.NoError(t, err)
				have, err := dst.TourGet(ctx, id)
				require.NoError(t, err)
				require.Equal(t, want, have)
			}
			for _, id := range seed.bookings {
				want, err := src.BookingGet(ctx, id)
				require.NoError(t, err)
				have, err := dst.BookingGet(ctx, id)
				require.NoError(t, err)
				require.Equal(t, want, have)
			}
			tokenUser, err := dst.TokenUser(ctx, seed.token, storetest.SeedNow, storetest.SeedNow.Add(-time.Hour))
			require.NoError(t, err)
			require.Equal(t, seed.users[1], tokenUser.ID)
			bad, err := dst.TourCheckInvariant(ctx)
			require.NoError(t, err)
			require.Empty(t, bad)

			qs, qd := queueDriverFor(t, src), queueDriverFor(t, dst)
			wantFailed, err := qs.FailedList(ctx, &driver.FailedListParams{})
			require.NoError(t, err)
			haveFailed, err := qd.FailedList(ctx, &driver.FailedListParams{})
			require.NoError(t, err)
			require.Len(t, haveFailed, 1)
			require.Equal(t, wantFailed[0].UUID, haveFailed[0].UUID)
			require.Equal(t, wantFailed[0].ID, haveFailed[0].ID)
			require.Equal(t, string(wantFailed[0].Payload), string(haveFailed[0].Payload))
			require.Equal(t, wantFailed[0].Exception, haveFailed[0].Exception)
			require.True(t, wantFailed[0].FailedAt.Equal(haveFailed[0].FailedAt), "%v != %v", wantFailed[0].FailedAt, haveFailed[0].FailedAt)
			wantBatch, err := qs.BatchGet(ctx, seed.batchID)
			require.NoError(t, err)
			haveBatch, err := qd.BatchGet(ctx, seed.batchID)
			require.NoError(t, err)
			require.Equal(t, wantBatch, haveBatch)
			for _, state := range []string{driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved} {
				want, err := qs.JobList(ctx, &driver.JobListParams{State: state, Limit: 100})
				require.NoError(t, err)
				have, err := qd.JobList(ctx, &driver.JobListParams{State: state, Limit: 100})
				require.NoError(t, err)
				require.Equal(t, want, have, state)
				require.NotEmpty(t, have, state)
			}
			v, ok, err := qd.CacheGet(ctx, "signal:restart")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "1764000000", v)
			taken, err := qd.LockAcquire(ctx, &driver.LockAcquireParams{Key: "schedule:expire", Owner: "host-2", TTL: time.Minute})
			require.NoError(t, err)
			require.False(t, taken, "the copied lock is still held")

			// New rows get fresh ids: the same id on both sides, since the
			// target continues the source's sequences (for jobs, past the
			// finished ones).
			for _, db := range []*store.DB{src, dst} {
				u := &booking.User{Name: "New", Email: "new@copy.test", PasswordHash: "x", CreatedAt: storetest.SeedNow, UpdatedAt: storetest.SeedNow}
				require.NoError(t, db.UserCreate(ctx, u))
				require.Greater(t, u.ID, seed.users[len(seed.users)-1])
				t.Logf("%s: next user id %d", db.Dialect, u.ID)
			}
			newJob := func(q driver.Driver) int64 {
				r, err := q.JobInsertMany(ctx, []*driver.JobInsertParams{{UUID: "6ba7b810-9dad-11d1-80b4-00c04fd43999", Queue: "default", Kind: "noop", Payload: []byte(`{}`)}})
				require.NoError(t, err)
				return r[0].ID
			}
			srcNext, dstNext := newJob(qs), newJob(qd)
			require.Equal(t, srcNext, dstNext, "the target's next job id continues the source's sequence")
			var newUser int64
			require.NoError(t, dst.QueryRow("SELECT MAX(id) FROM users").Scan(&newUser))
			var srcUser int64
			require.NoError(t, src.QueryRow("SELECT MAX(id) FROM users").Scan(&srcUser))
			require.Equal(t, srcUser, newUser)

			// Verification is not a formality: a microsecond or a byte
			// changed in the target is caught, in that table only.
			res, err = dbcopy.Verify(ctx, src, dst)
			require.NoError(t, err)
			require.True(t, res.Verified, "mismatched: %v", res.Mismatched())
			b, err := dst.BookingGet(ctx, seed.bookings[0])
			require.NoError(t, err)
			_, err = dst.Exec(dst.Rebind("UPDATE bookings SET updated_at = ? WHERE id = ?"), b.UpdatedAt.Add(time.Microsecond), b.ID)
			require.NoError(t, err)
			_, err = dst.Exec(dst.Rebind("UPDATE tours SET description = ? WHERE id = ?"), "line one\nline two\ttab '; DROP TABLE tours; -- ", seed.tours[2])
			require.NoError(t, err)
			res, err = dbcopy.Verify(ctx, src, dst)
			require.NoError(t, err)
			require.False(t, res.Verified)
			require.Equal(t, []string{"tours", "bookings"}, res.Mismatched())
		})
	}
}

func TestCopyRefusesNonEmptyTargetUnlessForced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		src := storetest.Open(t, store.SQLite)
		seedCopySource(t, src)
		dst := storetest.Open(t, d)
		stray := storetest.SeedUser(t, dst, "stray@copy.test")

		_, err := dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst})
		require.Error(t, err)
		require.True(t, dbcopy.IsRefused(err), "%v", err)
		require.Contains(t, err.Error(), "already holds rows (users: 1)")
		require.Contains(t, err.Error(), "--force")
		require.NotContains(t, err.Error(), "\n")
		_, err = dst.UserGet(ctx, stray.ID)
		require.NoError(t, err, "a refusal leaves the target alone")

		res, err := dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst, DryRun: true})
		require.True(t, dbcopy.IsRefused(err), "a dry run reports the refusal too: %v", err)
		require.NotNil(t, res)
		require.EqualValues(t, 1, res.DeletedRows)

		res, err = dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst, Force: true})
		require.NoError(t, err)
		require.True(t, res.Verified, "mismatched: %v", res.Mismatched())
		require.EqualValues(t, 1, res.DeletedRows)
		_, err = dst.UserGetByEmail(ctx, "stray@copy.test")
		require.Error(t, err, "--force deleted the target's own rows")
		n, err := dst.UserCount(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)
	})
}

func TestCopyRefusesSourceNotCurrent(t *testing.T) {
	ctx := context.Background()
	src := storetest.Open(t, store.SQLite)
	ms, err := src.Migrations(ctx)
	require.NoError(t, err)
	last := ms[len(ms)-1].Name
	_, err = src.Exec("DELETE FROM migrations WHERE migration = ?", last)
	require.NoError(t, err)
	dst, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: storetest.NewDSN(t, store.SQLite)})
	require.NoError(t, err)
	t.Cleanup(func() { dst.Close() })

	_, err = dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst})
	require.True(t, dbcopy.IsRefused(err), "%v", err)
	require.Equal(t, "the source database is behind: 1 migration(s) pending ("+last+"); run 'tripin migrate' against it first", err.Error())
	pending, err := dst.Pending(ctx)
	require.NoError(t, err)
	require.Len(t, pending, len(ms), "the target is not migrated when the copy is refused")

	_, err = src.Exec("INSERT INTO migrations (migration, batch) VALUES (?, 1), ('9999_from_the_future', 2)", last)
	require.NoError(t, err)
	_, err = dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst})
	require.True(t, dbcopy.IsRefused(err), "%v", err)
	require.Contains(t, err.Error(), "9999_from_the_future")

	empty, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: storetest.NewDSN(t, store.SQLite)})
	require.NoError(t, err)
	t.Cleanup(func() { empty.Close() })
	_, err = dbcopy.Copy(ctx, dbcopy.Params{From: empty, To: dst})
	require.True(t, dbcopy.IsRefused(err), "%v", err)
	require.Contains(t, err.Error(), "has no Tripin schema")
}

func TestCopyRefusesSameDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		dsn := storetest.NewDSN(t, d)
		a, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
		require.NoError(t, err)
		t.Cleanup(func() { a.Close() })
		_, err = a.Migrate(ctx)
		require.NoError(t, err)
		storetest.SeedUser(t, a, "keep@copy.test")
		b, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })

		_, err = dbcopy.Copy(ctx, dbcopy.Params{From: a, To: b, Force: true})
		require.True(t, dbcopy.IsRefused(err), "%v", err)
		require.Contains(t, err.Error(), "the same database")
		n, err := a.UserCount(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n, "--force never deletes the source")

		// A different database on the same server is not the same.
		other := storetest.Open(t, d)
		res, err := dbcopy.Copy(ctx, dbcopy.Params{From: a, To: other})
		require.NoError(t, err)
		require.True(t, res.Verified)
	})
}

func TestCopyDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	src := storetest.Open(t, store.SQLite)
	seedCopySource(t, src)
	dst, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: storetest.NewDSN(t, store.SQLite)})
	require.NoError(t, err)
	t.Cleanup(func() { dst.Close() })
	res, err := dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst, DryRun: true})
	require.NoError(t, err)
	require.True(t, res.DryRun)
	require.False(t, res.Verified)
	require.NotEmpty(t, res.Migrated, "the migrations the target would get")
	counts := map[string]int64{}
	for _, ct := range res.Tables {
		counts[ct.Table] = ct.SourceRows
		require.Zero(t, ct.TargetRows)
	}
	require.EqualValues(t, 3, counts["users"])
	require.EqualValues(t, 3, counts["bookings"])
	pending, err := dst.Pending(ctx)
	require.NoError(t, err)
	require.Len(t, pending, len(res.Migrated), "a dry run does not migrate the target")
}

func TestCopyDialectOfDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn     string
		dialect store.Dialect
		open    string
		err     string
	}{
		{dsn: "storage/tripin.db", dialect: store.SQLite, open: "storage/tripin.db"},
		{dsn: "/var/lib/tripin/tripin.db", dialect: store.SQLite, open: "/var/lib/tripin/tripin.db"},
		{dsn: "sqlite:storage/tripin.db", dialect: store.SQLite, open: "storage/tripin.db"},
		{dsn: "sqlite:///tmp/t.db", dialect: store.SQLite, open: "sqlite:///tmp/t.db"},
		{dsn: "file:t.db?mode=ro", dialect: store.SQLite, open: "file:t.db?mode=ro"},
		{dsn: "mysql://tripin:pw@db:3306/tripin", dialect: store.MySQL, open: "mysql://tripin:pw@db:3306/tripin"},
		{dsn: "mariadb://root@127.0.0.1/tripin", dialect: store.MySQL, open: "mariadb://root@127.0.0.1/tripin"},
		{dsn: "root@tcp(127.0.0.1:3306)/test", dialect: store.MySQL, open: "root@tcp(127.0.0.1:3306)/test"},
		{dsn: "tripin:secret@unix(/run/mysqld/mysqld.sock)/tripin?parseTime=true", dialect: store.MySQL, open: "tripin:secret@unix(/run/mysqld/mysqld.sock)/tripin?parseTime=true"},
		{dsn: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", dialect: store.PgSQL, open: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"},
		{dsn: "postgresql://u@h/db", dialect: store.PgSQL, open: "postgresql://u@h/db"},
		{dsn: "host=127.0.0.1 dbname=tripin user=tripin sslmode=disable", dialect: store.PgSQL, open: "host=127.0.0.1 dbname=tripin user=tripin sslmode=disable"},
		{dsn: "", err: "empty DSN"},
		{dsn: "redis://127.0.0.1:6379/0", err: `unknown scheme "redis"`},
		{dsn: "root:secret@tcp(127.0.0.1:3306/test", err: "invalid MySQL DSN"},
	} {
		d, open, err := dbcopy.DialectOfDSN(tc.dsn)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.dsn)
			require.NotContains(t, err.Error(), "secret", "errors never show a password")
			continue
		}
		require.NoError(t, err, tc.dsn)
		require.Equal(t, tc.dialect, d, tc.dsn)
		require.Equal(t, tc.open, open, tc.dsn)
	}
}

func TestCopyReportsProgressPerBatch(t *testing.T) {
	ctx := context.Background()
	src := storetest.Open(t, store.SQLite)
	seedCopySource(t, src)
	dst, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: storetest.NewDSN(t, store.SQLite)})
	require.NoError(t, err)
	t.Cleanup(func() { dst.Close() })

	var steps []dbcopy.TableProgress
	res, err := dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst, BatchRows: 2,
		Progress: func(p dbcopy.TableProgress) { steps = append(steps, p) }})
	require.NoError(t, err)
	require.True(t, res.Verified)

	// Per table, in the copy's order: a start at 0, one step per batch of
	// two rows, and a last step marked done with every row.
	byTable := map[string][]dbcopy.TableProgress{}
	var order []string
	for _, s := range steps {
		if len(byTable[s.Table]) == 0 {
			order = append(order, s.Table)
		}
		byTable[s.Table] = append(byTable[s.Table], s)
	}
	require.Len(t, order, len(res.Tables))
	for i, ct := range res.Tables {
		require.Equal(t, ct.Table, order[i])
		got := byTable[ct.Table]
		var want []dbcopy.TableProgress
		want = append(want, dbcopy.TableProgress{Table: ct.Table, Total: ct.SourceRows})
		for n := int64(2); n <= ct.SourceRows; n += 2 {
			want = append(want, dbcopy.TableProgress{Table: ct.Table, Rows: n, Total: ct.SourceRows})
		}
		if ct.SourceRows%2 == 1 {
			want = append(want, dbcopy.TableProgress{Table: ct.Table, Rows: ct.SourceRows, Total: ct.SourceRows})
		}
		want = append(want, dbcopy.TableProgress{Table: ct.Table, Rows: ct.SourceRows, Total: ct.SourceRows, Done: true})
		require.Equal(t, want, got, ct.Table)
	}
	require.EqualValues(t, 3, res.Tables[slices.IndexFunc(res.Tables, func(ct dbcopy.Table) bool { return ct.Table == "users" })].SourceRows)

	// A dry run copies nothing and reports nothing.
	steps = nil
	dry, err := store.Open(ctx, store.OpenParams{Dialect: store.SQLite, DSN: storetest.NewDSN(t, store.SQLite)})
	require.NoError(t, err)
	t.Cleanup(func() { dry.Close() })
	_, err = dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dry, DryRun: true,
		Progress: func(p dbcopy.TableProgress) { steps = append(steps, p) }})
	require.NoError(t, err)
	require.Empty(t, steps)
}
