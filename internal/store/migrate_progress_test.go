package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// TestMigrateProgressReportsEachMigration: every migration applied is
// reported as it starts and once it is applied, in order; migrations only
// renamed from the old layout, and a run with nothing to do, report
// nothing.
func TestMigrateProgressReportsEachMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		check := func(db *store.DB) []string {
			t.Helper()
			var steps []sqldb.MigrationStep
			done, err := db.MigrateProgress(ctx, func(s sqldb.MigrationStep) { steps = append(steps, s) })
			require.NoError(t, err)
			require.Len(t, steps, 2*len(done))
			for i, name := range done {
				start, applied := steps[2*i], steps[2*i+1]
				require.Equal(t, sqldb.MigrationStep{Name: name}, start)
				require.Equal(t, name, applied.Name)
				require.True(t, applied.Applied, name)
				require.Positive(t, applied.Took, name)
			}
			return done
		}

		fresh := openEmpty(t, d)
		all, err := store.AllMigrations(d)
		require.NoError(t, err)
		require.Len(t, check(fresh), len(all))
		require.Empty(t, check(fresh))

		old := openEmpty(t, d)
		_, err = old.DB.Migrate(ctx, layoutV1Migrations(t, d))
		require.NoError(t, err)
		require.Equal(t, newerAppMigrations(t, d), check(old))
	})
}
