package schedule

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestLockerAcquireRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		l := NewLocker(storetest.Open(t, d))

		ok, err := l.Acquire(ctx, "k", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = l.Acquire(ctx, "k", "b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "a held lock must not be taken")
		ok, err = l.Acquire(ctx, "k", "a", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "the owner does not take its unexpired lock twice")

		st, found, err := l.Get(ctx, "k")
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, "a", st.Owner)
		require.False(t, st.Expired)
		require.WithinDuration(t, time.Now().Add(time.Minute), st.ExpiresAt, 10*time.Second)

		released, err := l.Release(ctx, "k", "b")
		require.NoError(t, err)
		require.False(t, released, "only the owner releases")
		st, _, _ = l.Get(ctx, "k")
		require.Equal(t, "a", st.Owner)

		released, err = l.Release(ctx, "k", "a")
		require.NoError(t, err)
		require.True(t, released)
		_, found, err = l.Get(ctx, "k")
		require.NoError(t, err)
		require.False(t, found)

		ok, err = l.Acquire(ctx, "k", "b", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
	})
}

// expireLock moves a lock's expiration into the past, as if its time had
// passed, without sleeping.
func expireLock(t *testing.T, db *store.DB, key string) {
	t.Helper()
	_, err := db.Exec(db.Rebind("UPDATE cache_locks SET expiration = expiration - 7200 WHERE "+keyCol(db.Dialect)+" = ?"), key)
	require.NoError(t, err)
}

func TestLockerExpiryTakeover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		l := NewLocker(db)

		ok, err := l.Acquire(ctx, "k", "a", time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
		expireLock(t, db, "k")
		st, _, err := l.Get(ctx, "k")
		require.NoError(t, err)
		require.True(t, st.Expired)

		ok, err = l.Acquire(ctx, "k", "b", time.Hour)
		require.NoError(t, err)
		require.True(t, ok, "an expired lock is taken over")
		st, _, err = l.Get(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "b", st.Owner)
		require.False(t, st.Expired)

		released, err := l.Release(ctx, "k", "a")
		require.NoError(t, err)
		require.False(t, released, "the previous owner cannot release the new owner's lock")

		// An expired lock taken back by its own owner counts as acquired.
		expireLock(t, db, "k")
		ok, err = l.Acquire(ctx, "k", "b", time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
	})
}

func TestLockerTransfer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		l := NewLocker(db)
		ok, err := l.Acquire(ctx, "k", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)

		ok, err = l.Transfer(ctx, "k", "x", "c", time.Hour)
		require.NoError(t, err)
		require.False(t, ok, "transfer from a non-owner")
		ok, err = l.Transfer(ctx, "k", "a", "job:7", 2*time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
		st, _, err := l.Get(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "job:7", st.Owner)
		require.WithinDuration(t, time.Now().Add(2*time.Hour), st.ExpiresAt, 10*time.Second)

		// Two racing transfers from the same holder: one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := l.Transfer(ctx, "k", "job:7", fmt.Sprint("r", i), time.Hour)
				require.NoError(t, err)
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load())
	})
}

func TestLockerConcurrentAcquire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db, dsn := openDB(t, d)
		// Several pools, as several processes would have.
		lockers := []*Locker{NewLocker(db)}
		if d != store.SQLite {
			for range 2 {
				other, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
				require.NoError(t, err)
				t.Cleanup(func() { other.Close() })
				lockers = append(lockers, NewLocker(other))
			}
		}
		const keys, contenders = 20, 12
		for k := range keys {
			key := fmt.Sprintf("race:%d", k)
			if k%2 == 1 {
				// Odd keys race for an expired lock instead of a free one.
				ok, err := lockers[0].Acquire(ctx, key, "old", time.Hour)
				require.NoError(t, err)
				require.True(t, ok)
				expireLock(t, db, key)
			}
			var wins atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for c := range contenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ok, err := lockers[c%len(lockers)].Acquire(ctx, key, fmt.Sprint("owner-", c), time.Hour)
					require.NoError(t, err)
					if ok {
						wins.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			require.Equal(t, int32(1), wins.Load(), "key %s", key)
		}
	})
}

func TestLockerPruneExpired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		l := NewLocker(db)
		for _, k := range []string{"schedule:a:1", "schedule:a:2", "other:x", "schedule_b"} {
			ok, err := l.Acquire(ctx, k, "o", time.Hour)
			require.NoError(t, err)
			require.True(t, ok)
			expireLock(t, db, k)
		}
		ok, err := l.Acquire(ctx, "schedule:live", "o", time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
		n, err := l.PruneExpired(ctx, "schedule:")
		require.NoError(t, err)
		require.Equal(t, int64(2), n)
		for k, want := range map[string]bool{"schedule:a:1": false, "other:x": true, "schedule_b": true, "schedule:live": true} {
			_, found, err := l.Get(ctx, k)
			require.NoError(t, err)
			require.Equal(t, want, found, k)
		}
	})
}
