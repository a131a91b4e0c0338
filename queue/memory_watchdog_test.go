package queue

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMemoryWatchdog: without a limit it never ticks; under the limit it
// keeps ticking; over it, it reports the memory in use once and stops.
func TestMemoryWatchdog(t *testing.T) {
	require.NotZero(t, memoryInUse(), "the runtime reports the memory it holds")

	off := newMemoryWatchdog(0, time.Millisecond)
	require.Nil(t, off.c())
	_, over := off.check()
	require.False(t, over)

	roomy := newMemoryWatchdog(math.MaxUint64, time.Millisecond)
	defer roomy.stop()
	<-roomy.c()
	used, over := roomy.check()
	require.False(t, over)
	require.NotZero(t, used)
	require.NotNil(t, roomy.c(), "still watching")

	tight := newMemoryWatchdog(1, time.Millisecond)
	<-tight.c()
	used, over = tight.check()
	require.True(t, over)
	require.Greater(t, used, uint64(1))
	require.Nil(t, tight.c(), "trips once")
}
