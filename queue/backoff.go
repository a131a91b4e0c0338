package queue

import (
	"math/rand/v2"
	"time"
)

// maxExponentialBackoff caps the default backoff.
const maxExponentialBackoff = time.Hour

// retryDelay is the wait before the next attempt after attempt (1-based)
// failed. A list gives one value per attempt, its last value repeating;
// without one the delay doubles from one second, with ±10% jitter so that
// jobs failing together do not retry together.
func retryDelay(list []time.Duration, attempt int) time.Duration {
	if len(list) > 0 {
		i := min(max(attempt-1, 0), len(list)-1)
		return list[i]
	}
	d := maxExponentialBackoff
	if attempt < 13 {
		d = min(time.Second<<max(attempt-1, 0), maxExponentialBackoff)
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return d + jitter
}
