package payment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// TestStateMachine sends every transaction status to a booking in every
// state and checks the booking's status, its seats, the e-ticket hook and
// the outcome.
func TestStateMachine(t *testing.T) {
	t.Parallel()
	type start struct {
		status      booking.Status
		needsRefund bool
	}
	starts := []start{
		{booking.StatusPending, false}, {booking.StatusPaid, false}, {booking.StatusExpired, false}, {booking.StatusCancelled, false},
		{booking.StatusFailed, false}, {booking.StatusRefunded, false}, {booking.StatusExpired, true},
	}
	type notif struct{ status, fraud string }
	notifs := []notif{
		{"settlement", ""}, {"capture", "accept"}, {"capture", "challenge"}, {"capture", "deny"},
		{"pending", ""}, {"authorize", ""}, {"deny", ""}, {"cancel", ""}, {"expire", ""}, {"failure", ""},
		{"refund", ""}, {"partial_refund", ""}, {"chargeback", ""},
	}
	type want struct {
		status      booking.Status
		needsRefund bool
		seats       int // seats the booking holds afterwards
		outcome     Outcome
		ticket      bool
	}
	const q = 2
	expect := func(s start, n notif) want {
		held := 0
		if s.status == booking.StatusPending || s.status == booking.StatusPaid {
			held = q
		}
		same := want{status: s.status, needsRefund: s.needsRefund, seats: held, outcome: OutcomeIgnored}
		ev := eventFor(n.status, n.fraud)
		switch s.status {
		case booking.StatusPending:
			switch ev {
			case booking.EventPaid:
				return want{status: booking.StatusPaid, seats: q, outcome: OutcomePaid, ticket: true}
			case booking.EventPending:
				same.outcome = OutcomePending
			case booking.EventChallenge:
				same.outcome = OutcomeChallenge
			case booking.EventCancelled:
				return want{status: booking.StatusCancelled, outcome: OutcomeCancelled}
			case booking.EventDenied:
				return want{status: booking.StatusFailed, outcome: OutcomeFailed}
			case booking.EventExpired:
				return want{status: booking.StatusExpired, outcome: OutcomeExpired}
			case booking.EventRefunded:
				return want{status: booking.StatusRefunded, outcome: OutcomeRefunded}
			}
		case booking.StatusPaid:
			switch ev {
			case booking.EventPaid:
				same.outcome = OutcomeDuplicate
			case booking.EventRefunded:
				return want{status: booking.StatusRefunded, outcome: OutcomeRefunded}
			case booking.EventPartialRefund:
				same.outcome = OutcomePartialRefund
			}
		case booking.StatusExpired, booking.StatusCancelled, booking.StatusFailed:
			switch ev {
			case booking.EventPaid:
				if s.needsRefund {
					same.outcome = OutcomeDuplicate
					return same
				}
				return want{status: booking.StatusPaid, seats: q, outcome: OutcomePaidLate, ticket: true}
			case booking.EventRefunded:
				return want{status: booking.StatusRefunded, outcome: OutcomeRefunded}
			case booking.EventPartialRefund:
				if s.needsRefund {
					same.outcome = OutcomePartialRefund
				}
			}
		case booking.StatusRefunded:
			if ev == booking.EventRefunded {
				same.outcome = OutcomeDuplicate
			}
		}
		return same
	}

	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		user := f.user(t)
		ctx := context.Background()
		for _, s := range starts {
			for _, n := range notifs {
				name := fmt.Sprintf("%s/refund=%v/%s+%s", s.status, s.needsRefund, n.status, n.fraud)
				t.Run(name, func(t *testing.T) {
					tour := f.tour(t, 10)
					id, code := f.booking(t, tour, user, q, s.status, s.needsRefund)
					w := expect(s, n)

					out, err := f.svc.HandleNotification(ctx, f.notify(code, q*150000, n.status, n.fraud))
					require.NoError(t, err)
					require.Equal(t, w.outcome, out)
					st := f.state(t, id)
					require.Equal(t, w.status, st.Status)
					require.Equal(t, w.needsRefund, st.NeedsRefund)
					require.Equal(t, 10-w.seats, st.Quota)
					require.Equal(t, map[bool]int{true: 1, false: 0}[w.ticket], f.paidCalls(id))

					// The same notification again changes nothing.
					out2, err := f.svc.HandleNotification(ctx, f.notify(code, q*150000, n.status, n.fraud))
					require.NoError(t, err)
					require.Equal(t, st, f.state(t, id))
					require.Equal(t, map[bool]int{true: 1, false: 0}[w.ticket], f.paidCalls(id))
					if w.outcome != OutcomeIgnored && w.outcome != OutcomePending && w.outcome != OutcomeChallenge && w.outcome != OutcomePartialRefund {
						require.Contains(t, []Outcome{OutcomeDuplicate, OutcomeIgnored}, out2)
					}
					rows := notificationRows(t, f.db, code)
					require.Len(t, rows, 2)
					require.True(t, rows[0].SignatureValid)
					require.Equal(t, w.outcome, rows[0].Outcome)
				})
			}
		}
		requireInvariant(t, f.db)
	})
}

func TestLatePaymentSoldOut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		tour := f.tour(t, 4)
		id, code := f.booking(t, tour, user, 3, booking.StatusExpired, false)
		f.booking(t, tour, user, 2, booking.StatusPaid, false) // only 2 seats left

		out, err := f.svc.HandleNotification(ctx, f.notify(code, 3*150000, "settlement", ""))
		require.NoError(t, err)
		require.Equal(t, OutcomeNeedsRefund, out)
		st := f.state(t, id)
		require.Equal(t, booking.StatusExpired, st.Status)
		require.True(t, st.NeedsRefund)
		require.Equal(t, 2, st.Quota)
		require.Equal(t, 0, f.paidCalls(id))
		late := f.latePayments()
		require.Len(t, late, 1)
		tx, _ := f.fake.Transaction(code)
		require.Equal(t, LatePayment{BookingID: id, Code: code, TourID: tour, Quantity: 3, Amount: 450000,
			Status: string(booking.StatusExpired), TransactionID: tx.TransactionID, PaymentType: "bank_transfer"}, late[0],
			"the transaction as the Status API answered it")

		require.Equal(t, 1, f.lateCalls(id))

		// A duplicate does not notify twice.
		out, err = f.svc.HandleNotification(ctx, f.notify(code, 3*150000, "settlement", ""))
		require.NoError(t, err)
		require.Equal(t, OutcomeDuplicate, out)
		require.Len(t, f.latePayments(), 1)
		require.Equal(t, 1, f.lateCalls(id))

		// The refund operations then make closes the case.
		out, err = f.svc.HandleNotification(ctx, f.notify(code, 3*150000, "refund", ""))
		require.NoError(t, err)
		require.Equal(t, OutcomeRefunded, out)
		st = f.state(t, id)
		require.Equal(t, booking.StatusRefunded, st.Status)
		require.False(t, st.NeedsRefund)
		require.Equal(t, 2, st.Quota)
		requireInvariant(t, f.db)
	})
}

// When what the late-payment hook records cannot be written, the flag is
// not written either and the notification fails, so that Midtrans sends it
// again: the operators' record and the flag commit together.
func TestLatePaymentHookFailureRollsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		tour := f.tour(t, 3)
		id, code := f.booking(t, tour, user, 2, booking.StatusExpired, false)
		f.booking(t, tour, user, 2, booking.StatusPaid, false) // 1 seat left
		f.mu.Lock()
		f.failOn[id] = true
		f.mu.Unlock()

		out, err := f.svc.HandleNotification(ctx, f.notify(code, 2*150000, "settlement", ""))
		require.ErrorIs(t, err, errTestHook)
		require.Equal(t, OutcomeError, out)
		require.False(t, f.state(t, id).NeedsRefund)
		require.Equal(t, 0, f.lateCalls(id))
		require.Empty(t, f.latePayments())

		f.mu.Lock()
		f.failOn[id] = false
		f.mu.Unlock()
		out, err = f.svc.HandleNotification(ctx, f.notify(code, 2*150000, "settlement", ""))
		require.NoError(t, err)
		require.Equal(t, OutcomeNeedsRefund, out)
		require.True(t, f.state(t, id).NeedsRefund)
		require.Equal(t, 1, f.lateCalls(id))
		require.Len(t, f.latePayments(), 1)
		requireInvariant(t, f.db)
	})
}

func TestOutOfOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		tour := f.tour(t, 10)
		send := func(code, status, fraud string) Outcome {
			t.Helper()
			out, err := f.svc.HandleNotification(ctx, f.notify(code, 2*150000, status, fraud))
			require.NoError(t, err)
			return out
		}

		// A settlement that overtakes its pending notification.
		id, code := f.booking(t, tour, user, 2, booking.StatusPending, false)
		require.Equal(t, OutcomePaid, send(code, "settlement", ""))
		require.Equal(t, OutcomeIgnored, send(code, "pending", ""))
		require.Equal(t, OutcomeDuplicate, send(code, "settlement", ""))
		require.Equal(t, OutcomeDuplicate, send(code, "capture", "accept"))
		require.Equal(t, OutcomeIgnored, send(code, "expire", ""))
		require.Equal(t, booking.StatusPaid, f.state(t, id).Status)
		require.Equal(t, "settlement", f.state(t, id).TxStatus)
		require.Equal(t, 1, f.paidCalls(id), "a second settlement must not send a second e-ticket")

		// A denied card, then a successful retry in the same Snap page.
		id2, code2 := f.booking(t, tour, user, 2, booking.StatusPending, false)
		require.Equal(t, OutcomeFailed, send(code2, "deny", ""))
		require.Equal(t, 8, f.state(t, id2).Quota)
		require.Equal(t, OutcomePaidLate, send(code2, "settlement", ""))
		require.Equal(t, booking.StatusPaid, f.state(t, id2).Status)
		require.Equal(t, 6, f.state(t, id2).Quota)
		require.Equal(t, 1, f.paidCalls(id2))

		// A refund that overtakes its settlement.
		id3, code3 := f.booking(t, tour, user, 2, booking.StatusPending, false)
		require.Equal(t, OutcomeRefunded, send(code3, "refund", ""))
		require.Equal(t, OutcomeIgnored, send(code3, "settlement", ""))
		require.Equal(t, booking.StatusRefunded, f.state(t, id3).Status)
		require.Equal(t, 0, f.paidCalls(id3))
		requireInvariant(t, f.db)
	})
}

func TestRejectedNotificationsChangeNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		tour := f.tour(t, 10)
		id, code := f.booking(t, tour, user, 2, booking.StatusPending, false)
		// Midtrans knows code as settled; it has never heard of code2, and
		// it says code3 was paid for another amount.
		f.fake.SetStatus(code, 300000, "settlement", "")
		id2, code2 := f.booking(t, tour, user, 2, booking.StatusPending, false)
		id3, code3 := f.booking(t, tour, user, 2, booking.StatusPending, false)
		f.fake.SetStatus(code3, 150000, "settlement", "")
		before := map[int64]bookingState{id: f.state(t, id), id2: f.state(t, id2), id3: f.state(t, id3)}
		good := signed(code, 300000, "settlement", "")
		rewrite := func(raw []byte, from, to string) []byte {
			out := bytes.Replace(raw, []byte(from), []byte(to), 1)
			require.NotEqual(t, raw, out, "nothing to rewrite")
			return out
		}

		cases := []struct {
			name    string
			raw     []byte
			code    string
			outcome Outcome
		}{
			{"forged signature", bytes.Replace(good, []byte(`"signature_key":"`), []byte(`"signature_key":"00`), 1), apperr.EFORBIDDEN, OutcomeBadSignature},
			{"signed with another key", midtrans.BuildNotification("SB-Mid-server-attacker", midtrans.NotificationParams{
				OrderID: code, GrossAmount: 300000, TransactionStatus: "settlement"}), apperr.EFORBIDDEN, OutcomeBadSignature},
			{"tampered amount", bytes.Replace(good, []byte(`"300000.00"`), []byte(`"3000.00"`), 1), apperr.EFORBIDDEN, OutcomeBadSignature},
			{"re-signed wrong amount", signed(code, 3000, "settlement", ""), apperr.EINVALID, OutcomeAmountMismatch},
			{"re-signed fractional amount", signedRaw(code, "200", "300000.50", "settlement"), apperr.EINVALID, OutcomeAmountMismatch},
			{"re-signed garbage amount", signedRaw(code, "200", "lots", "settlement"), apperr.EINVALID, OutcomeAmountMismatch},
			// transaction_status and fraud_status are outside the
			// signature; status_code is inside, and gives them away.
			{"pending replayed as settlement", rewrite(signed(code, 300000, "pending", ""), `"transaction_status":"pending"`,
				`"transaction_status":"settlement"`), apperr.EINVALID, OutcomeStatusMismatch},
			{"pending replayed as cancel", rewrite(signed(code, 300000, "pending", ""), `"transaction_status":"pending"`,
				`"transaction_status":"cancel"`), apperr.EINVALID, OutcomeStatusMismatch},
			{"expire replayed as settlement", rewrite(signed(code, 300000, "expire", ""), `"transaction_status":"expire"`,
				`"transaction_status":"settlement"`), apperr.EINVALID, OutcomeStatusMismatch},
			{"deny replayed as refund", rewrite(signed(code, 300000, "deny", ""), `"transaction_status":"deny"`,
				`"transaction_status":"refund"`), apperr.EINVALID, OutcomeStatusMismatch},
			{"settlement replayed as expire", rewrite(good, `"transaction_status":"settlement"`,
				`"transaction_status":"expire"`), apperr.EINVALID, OutcomeStatusMismatch},
			{"challenged capture replayed as accepted", rewrite(signed(code, 300000, "capture", "challenge"), `"fraud_status":"challenge"`,
				`"fraud_status":"accept"`), apperr.EINVALID, OutcomeStatusMismatch},
			{"unknown order", signed("TRP-NOPE", 300000, "settlement", ""), apperr.ENOTFOUND, OutcomeUnknownOrder},
			{"NUL in order", signed("TRP-\x00", 300000, "settlement", ""), apperr.ENOTFOUND, OutcomeUnknownOrder},
			{"huge order", signed(strings.Repeat("X", 300), 300000, "settlement", ""), apperr.ENOTFOUND, OutcomeUnknownOrder},
			{"unknown at Midtrans", signed(code2, 300000, "settlement", ""), apperr.ENOTFOUND, OutcomeUnknownTransaction},
			{"Midtrans answers another amount", signed(code3, 300000, "settlement", ""), apperr.EINVALID, OutcomeAmountMismatch},
			{"malformed", []byte(`{"order_id":`), apperr.EMALFORMED, OutcomeMalformed},
			{"missing signature", []byte(`{"order_id":"` + code + `","status_code":"200","gross_amount":"300000.00","transaction_status":"settlement"}`), apperr.EMALFORMED, OutcomeMalformed},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var n int
				require.NoError(t, f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM payment_notifications").Scan(&n))
				out, err := f.svc.Receive(ctx, Delivery{Body: c.raw, RemoteIP: "203.0.113.7"})
				require.Error(t, err)
				require.Equal(t, c.code, apperr.Code(err))
				require.Equal(t, c.outcome, out)
				for id, st := range before {
					require.Equal(t, st, f.state(t, id))
					require.Equal(t, 0, f.paidCalls(id))
				}
				// Stored all the same, as a bounded record: the body (whole
				// when it is this small), its hash and size, why, from where.
				var m int
				var (
					outcome, payload, sum, reason, ip string
					valid                             bool
					size                              int
				)
				require.NoError(t, f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM payment_notifications").Scan(&m))
				require.Equal(t, n+1, m)
				require.NoError(t, f.db.QueryRowContext(ctx, `SELECT outcome, signature_valid, payload, payload_sha256, payload_bytes, reason, remote_ip
					FROM payment_notifications ORDER BY id DESC LIMIT 1`).Scan(&outcome, &valid, &payload, &sum, &size, &reason, &ip))
				require.Equal(t, string(c.outcome), outcome)
				require.Equal(t, c.outcome != OutcomeBadSignature && c.outcome != OutcomeMalformed, valid)
				require.Equal(t, string(c.raw), payload)
				require.Equal(t, sha256Hex(c.raw), sum)
				require.Equal(t, len(c.raw), size)
				require.NotEmpty(t, reason)
				require.Equal(t, "203.0.113.7", ip)
				require.Contains(t, RejectedOutcomes(), c.outcome, "pruned with the rejected ones")
			})
		}
		// The genuine one still works afterwards.
		out, err := f.svc.HandleNotification(ctx, good)
		require.NoError(t, err)
		require.Equal(t, OutcomePaid, out)
		requireInvariant(t, f.db)
	})
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signedRaw signs arbitrary raw strings, as someone holding the key could.
func signedRaw(code, statusCode, gross, status string) []byte {
	sig := midtrans.Signature(code, statusCode, gross, testServerKey)
	return []byte(fmt.Sprintf(`{"order_id":%q,"status_code":%q,"gross_amount":%q,"transaction_status":%q,"signature_key":%q}`,
		code, statusCode, gross, status, sig))
}

func TestOnPaidTxFailureRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ctx := context.Background()
	user := f.user(t)
	tour := f.tour(t, 10)
	id, code := f.booking(t, tour, user, 2, booking.StatusPending, false)
	f.mu.Lock()
	f.failOn[id] = true
	f.mu.Unlock()
	_, err := f.svc.HandleNotification(ctx, f.notify(code, 300000, "settlement", ""))
	require.ErrorIs(t, err, errTestHook)
	require.Equal(t, booking.StatusPending, f.state(t, id).Status)
	rows := notificationRows(t, f.db, code)
	require.Len(t, rows, 1)
	require.Equal(t, OutcomeError, rows[0].Outcome)

	// Midtrans retries; now the e-ticket can be queued and the payment lands.
	f.mu.Lock()
	f.failOn[id] = false
	f.mu.Unlock()
	out, err := f.svc.HandleNotification(ctx, f.notify(code, 300000, "settlement", ""))
	require.NoError(t, err)
	require.Equal(t, OutcomePaid, out)
	require.Equal(t, 1, f.paidCalls(id))
}

// TestVerifyStatus: with the Status API check (the default) Midtrans'
// answer is what is applied, not the notification; when Midtrans cannot be
// asked the notification is answered 503 and changes nothing, so that
// Midtrans sends it again; turned off, the notification is applied as sent.
func TestVerifyStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	require.True(t, f.cfg.MidtransVerifyStatus, "on by default")
	ctx := context.Background()
	user := f.user(t)
	tour := f.tour(t, 10)
	id, code := f.booking(t, tour, user, 2, booking.StatusPending, false)

	// Midtrans says the transaction is still pending: a settlement
	// notification (a replayed one, say, or one of another environment
	// signed with a leaked key) does not pay.
	f.fake.SetStatus(code, 300000, "pending", "")
	out, err := f.svc.HandleNotification(ctx, signed(code, 300000, "settlement", ""))
	require.NoError(t, err)
	require.Equal(t, OutcomePending, out)
	require.Equal(t, booking.StatusPending, f.state(t, id).Status)
	// Nor does a refund replayed from a settlement's 200 (the one rewrite
	// status_code cannot give away) end a paid booking.
	f.fake.SetStatus(code, 300000, "settlement", "")
	out, err = f.svc.HandleNotification(ctx, signed(code, 300000, "settlement", ""))
	require.NoError(t, err)
	require.Equal(t, OutcomePaid, out)
	out, err = f.svc.HandleNotification(ctx, signed(code, 300000, "refund", ""))
	require.NoError(t, err)
	require.Equal(t, OutcomeDuplicate, out, "Midtrans says settlement: the refund is not applied")
	require.Equal(t, booking.StatusPaid, f.state(t, id).Status)
	rows := notificationRows(t, f.db, code)
	require.Equal(t, OutcomeDuplicate, rows[len(rows)-1].Outcome)

	// Midtrans unreachable: 503, nothing changes, the attempt is recorded
	// (not as rejected: Midtrans sends it again).
	id2, code2 := f.booking(t, tour, user, 1, booking.StatusPending, false)
	f.fake.SetStatus(code2, 150000, "settlement", "")
	f.fake.Close()
	out, err = f.svc.HandleNotification(ctx, signed(code2, 150000, "settlement", ""))
	require.Equal(t, apperr.EUNAVAILABLE, apperr.Code(err))
	require.Equal(t, OutcomeStatusCheck, out)
	require.NotContains(t, err.Error(), testServerKey)
	require.Equal(t, booking.StatusPending, f.state(t, id2).Status)
	require.Equal(t, 0, f.paidCalls(id2))
	rows = notificationRows(t, f.db, code2)
	require.Len(t, rows, 1)
	require.Equal(t, OutcomeStatusCheck, rows[0].Outcome)
	require.NotContains(t, RejectedOutcomes(), OutcomeStatusCheck)

	// The escape hatch: off, the notification is applied as sent.
	g := newFixture(t, store.SQLite, withEnv("MIDTRANS_VERIFY_STATUS", "false"))
	g.fake.Close()
	id3, code3 := g.booking(t, g.tour(t, 5), g.user(t), 1, booking.StatusPending, false)
	out, err = g.svc.HandleNotification(ctx, signed(code3, 150000, "settlement", ""))
	require.NoError(t, err)
	require.Equal(t, OutcomePaid, out)
	require.Equal(t, booking.StatusPaid, g.state(t, id3).Status)
}

func TestSimulate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite, withEnv("PAYMENT_SIMULATOR", "true"))
	ctx := context.Background()
	user := f.user(t)
	tour := f.tour(t, 10)
	id, code := f.booking(t, tour, user, 2, booking.StatusPending, false)

	_, err := f.svc.Simulate(ctx, code, "bogus")
	require.Equal(t, apperr.EINVALID, apperr.Code(err))
	_, err = f.svc.Simulate(ctx, "TRP-NOPE", "settlement")
	require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))
	// Midtrans never saw these transactions: the simulator's notifications
	// skip the Status API check (the fake would answer 404 for them).
	_, known := f.fake.Transaction(code)
	require.False(t, known)
	out, err := f.svc.Simulate(ctx, code, "challenge")
	require.NoError(t, err)
	require.Equal(t, OutcomeChallenge, out)
	// Only the owner or an admin may simulate through SimulateAs.
	_, err = f.svc.SimulateAs(ctx, user+1000, false, code, "capture")
	require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))
	out, err = f.svc.SimulateAs(ctx, user, false, code, "capture")
	require.NoError(t, err)
	require.Equal(t, OutcomePaid, out)
	require.Equal(t, booking.StatusPaid, f.state(t, id).Status)
	out, err = f.svc.SimulateAs(ctx, user+1000, true, code, "capture")
	require.NoError(t, err)
	require.Equal(t, OutcomeDuplicate, out)
	rows := notificationRows(t, f.db, code)
	require.Len(t, rows, 3)
	require.True(t, rows[1].SignatureValid)

	// Off: in testing without PAYMENT_SIMULATOR, and against production
	// endpoints, the simulator does not exist.
	for _, opts := range [][]fixtureOpt{nil, {withEnv("MIDTRANS_IS_PRODUCTION", "true")}} {
		g := newFixture(t, store.SQLite, opts...)
		u := g.user(t)
		_, code2 := g.booking(t, g.tour(t, 5), u, 1, booking.StatusPending, false)
		_, err = g.svc.Simulate(ctx, code2, "settlement")
		require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))
		_, err = g.svc.SimulateAs(ctx, u, true, code2, "settlement")
		require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))
	}
}

func TestNewRequiresServerKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	cfg := *f.cfg
	cfg.MidtransServerKey = ""
	_, err := New(Params{DB: f.db, Config: &cfg})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "MIDTRANS_SERVER_KEY"))
}

// TestLatePaymentDepartedTour: a settlement for an expired or cancelled
// booking whose tour departs today or has departed never takes seats back,
// however many are free: the booking is flagged needs_refund and the
// operators are told, once.
func TestLatePaymentDepartedTour(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		today := time.Now().In(f.cfg.AppTimezone)
		for _, c := range []struct {
			name, date string
			status     booking.Status
		}{
			{"departed yesterday", today.AddDate(0, 0, -1).Format(time.DateOnly), booking.StatusExpired},
			{"departs today", today.Format(time.DateOnly), booking.StatusCancelled},
			{"departed last year", today.AddDate(-1, 0, 0).Format(time.DateOnly), booking.StatusFailed},
		} {
			t.Run(c.name, func(t *testing.T) {
				tour := f.tourDeparting(t, 10, c.date)
				id, code := f.booking(t, tour, user, 2, c.status, false)
				late := len(f.latePayments())

				out, err := f.svc.HandleNotification(ctx, f.notify(code, 300000, "settlement", ""))
				require.NoError(t, err)
				require.Equal(t, OutcomeNeedsRefund, out)
				st := f.state(t, id)
				require.Equal(t, c.status, st.Status)
				require.True(t, st.NeedsRefund)
				require.Equal(t, 10, st.Quota, "all ten seats are free and none was taken")
				require.Equal(t, 0, f.paidCalls(id), "no e-ticket")
				require.Equal(t, 1, f.lateCalls(id))
				got := f.latePayments()
				require.Len(t, got, late+1)
				require.True(t, got[late].Departed)
				require.Equal(t, string(c.status), got[late].Status)

				out, err = f.svc.HandleNotification(ctx, f.notify(code, 300000, "settlement", ""))
				require.NoError(t, err)
				require.Equal(t, OutcomeDuplicate, out)
				require.Equal(t, 1, f.lateCalls(id))
			})
		}
		// A tour departing tomorrow still takes its seats back.
		tour := f.tourDeparting(t, 10, today.AddDate(0, 0, 1).Format(time.DateOnly))
		id, code := f.booking(t, tour, user, 2, booking.StatusExpired, false)
		out, err := f.svc.HandleNotification(ctx, f.notify(code, 300000, "settlement", ""))
		require.NoError(t, err)
		require.Equal(t, OutcomePaidLate, out)
		require.Equal(t, 8, f.state(t, id).Quota)
		requireInvariant(t, f.db)
	})
}
