package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestJobHistoryKeys(t *testing.T) {
	for _, tc := range []struct {
		vals      map[string]string
		keep      time.Duration
		monitored time.Duration
		retention time.Duration
	}{
		{map[string]string{}, time.Hour, 7 * 24 * time.Hour, time.Hour},
		{map[string]string{"QUEUE_KEEP_COMPLETED": "30m", "QUEUE_MONITORED_KEEP": "48h"}, 30 * time.Minute, 48 * time.Hour, 30 * time.Minute},
		{map[string]string{"QUEUE_KEEP_COMPLETED": "7200"}, 2 * time.Hour, 7 * 24 * time.Hour, 2 * time.Hour},
		// Off: the completed-jobs retention is QUEUE_COMPLETED_RETENTION_HOURS again.
		{map[string]string{"QUEUE_KEEP_COMPLETED": "0", "QUEUE_COMPLETED_RETENTION_HOURS": "12"}, 0, 7 * 24 * time.Hour, 12 * time.Hour},
		{map[string]string{"QUEUE_MONITORED_KEEP": "0"}, time.Hour, 0, time.Hour},
	} {
		c, err := FromMap(tc.vals)
		require.NoError(t, err, "%v", tc.vals)
		require.Equal(t, tc.keep, c.QueueKeepCompleted, "%v", tc.vals)
		require.Equal(t, tc.monitored, c.QueueMonitoredKeep, "%v", tc.vals)
		require.Equal(t, tc.retention, c.Retention.CompletedJobs, "%v", tc.vals)
	}
	for _, bad := range []string{"-1h", "soon", "9000h", "99999999999"} {
		_, err := FromMap(map[string]string{"QUEUE_KEEP_COMPLETED": bad})
		require.ErrorContains(t, err, "QUEUE_KEEP_COMPLETED", bad)
	}
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Contains(t, c.Dump(), "QUEUE_KEEP_COMPLETED=1h0m0s")
}
