package payment

import (
	"context"
	"testing"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// BenchmarkHandleNotification measures the webhook's work per notification
// (verify, read the booking, ask the fake Midtrans' Status API over
// loopback, store, lock, pay, queue hook, commit) on each backend, with the
// Status API check (the default) and without it (the escape hatch), so
// that the check's cost shows side by side:
//
//	go test -run XXX -bench HandleNotification ./internal/payment/
func BenchmarkHandleNotification(b *testing.B) {
	for _, d := range storetest.Dialects() {
		for _, check := range []string{"true", "false"} {
			name := string(d) + "/status-check"
			if check == "false" {
				name = string(d) + "/offline"
			}
			b.Run(name, func(b *testing.B) {
				f := newFixture(b, d, withEnv("MIDTRANS_VERIFY_STATUS", check))
				user := f.user(b)
				tour := f.tour(b, b.N+1)
				bodies := make([][]byte, b.N)
				for i := range bodies {
					_, code := f.booking(b, tour, user, 1, booking.StatusPending, false)
					bodies[i] = f.notify(code, 150000, "settlement", "")
				}
				ctx := context.Background()
				b.ResetTimer()
				for i := range b.N {
					if out, err := f.svc.HandleNotification(ctx, bodies[i]); err != nil || out != OutcomePaid {
						b.Fatalf("%s: %v", out, err)
					}
				}
			})
		}
	}
}
