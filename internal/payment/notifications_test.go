package payment

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestNotificationsForOrderKeepsTheNewest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second)
		for i, status := range []string{"pending", "pending", "settlement"} {
			_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO payment_notifications (order_id, transaction_status, signature_valid, outcome, payload, received_at)
  VALUES (?, ?, ?, 'pending', '{}', ?)`), "TRP-20261207-NOTES1", status, true, base.Add(time.Duration(i)*time.Second))
			require.NoError(t, err)
		}
		got, err := NotificationsForOrder(ctx, db, "TRP-20261207-NOTES1", 2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "pending", got[0].TransactionStatus, "oldest first")
		require.Equal(t, "settlement", got[1].TransactionStatus, "the newest is kept when the limit cuts")
		require.True(t, got[0].ReceivedAt.Before(got[1].ReceivedAt))
	})
}
