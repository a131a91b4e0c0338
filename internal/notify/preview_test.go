package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
)

func TestPreview(t *testing.T) {
	cfg, err := config.FromMap(map[string]string{"APP_NAME": "Bali Trails", "APP_URL": "https://bali.example", "APP_ENV": "testing"})
	require.NoError(t, err)
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	msgs := Preview(cfg, now)
	require.Len(t, msgs, 2)
	require.Equal(t, "slack", msgs[0].Channel)
	require.Equal(t, "discord", msgs[1].Channel)
	require.True(t, strings.HasPrefix(msgs[0].Text, "*Bali Trails ops* (testing · https://bali.example): 4 jobs failed for good"), msgs[0].Text)
	require.True(t, strings.HasPrefix(msgs[1].Text, "**Bali Trails ops**"), msgs[1].Text)
	for _, m := range msgs {
		for _, want := range []string{"3× SendInvoiceEmail (queue emails)", "TRP-SAMPLE (Rp1.500.000, booking expired)",
			"Oldest wait on emails is 7m", "Queue default holds 12000 jobs", "since 09:58 WIB", "Dashboard: https://bali.example/admin"} {
			require.Contains(t, m.Text, want, m.Channel)
		}
	}
}
