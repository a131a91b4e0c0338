package mail_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// The mail benchmarks send to a go-smtp server in the same process over
// loopback, one SMTP session per email (as the jobs do). They measure
// Tripin's side: rendering, MIME encoding and the SMTP exchange, not a
// real provider's latency. Run:
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/mail/

func benchSend(b *testing.B, render func(*mail.Renderer) (*mail.Message, error), parallel bool) {
	srv := mailtest.Start(b, mailtest.Options{Discard: true})
	m := smtpMailer(b, srv, "none", "", "", nil)
	msg, err := render(newRenderer(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	cpu := startCPU()
	if parallel {
		b.SetParallelism(10) // ×GOMAXPROCS senders, like a busy worker pool
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Send(ctx, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for i := 0; i < b.N; i++ {
			if _, err := m.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu.report(b)
	if got := srv.Accepted(); got < b.N {
		b.Fatalf("server accepted %d of %d", got, b.N)
	}
}

func invoice(r *mail.Renderer) (*mail.Message, error) { return r.Invoice(sampleBooking(1, "pending")) }
func eticket(r *mail.Renderer) (*mail.Message, error) { return r.ETicket(sampleBooking(1, "paid")) }

func BenchmarkSMTPInvoiceSerial(b *testing.B)   { benchSend(b, invoice, false) }
func BenchmarkSMTPInvoiceParallel(b *testing.B) { benchSend(b, invoice, true) }
func BenchmarkSMTPETicketSerial(b *testing.B)   { benchSend(b, eticket, false) }
func BenchmarkSMTPETicketParallel(b *testing.B) { benchSend(b, eticket, true) }

// BenchmarkRenderETicket is the CPU cost of one e-ticket: templates and
// the QR code PNG.
func BenchmarkRenderETicket(b *testing.B) {
	r := newRenderer(b)
	bk := sampleBooking(1, "paid")
	for i := 0; i < b.N; i++ {
		if _, err := r.ETicket(bk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWorkerInvoice is the whole email job minus the queue: sent-log
// check on SQLite, render, SMTP send and the sent record, for distinct
// bookings, by 10×GOMAXPROCS concurrent workers.
func BenchmarkWorkerInvoice(b *testing.B) {
	srv := mailtest.Start(b, mailtest.Options{Discard: true})
	db := storetest.Open(b, store.SQLite)
	bookings := fakeBookings{}
	for i := int64(1); i <= int64(b.N); i++ {
		bk := sampleBooking(i, "pending")
		bk.Code = "TRP-" + strconv.FormatInt(i, 36)
		bookings[i] = bk
	}
	s, err := mail.NewSender(mail.SenderParams{
		Mailer: smtpMailer(b, srv, "none", "", "", nil), Renderer: newRenderer(b),
		Bookings: bookings, Sent: mail.NewSentStore(db), FromAddress: "noreply@tripintravel.com",
	})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	cpu := startCPU()
	b.SetParallelism(10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := next.Add(1)
			if err := s.Send(ctx, mail.SendRequest{Kind: mail.KindInvoice, BookingID: id}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report(b)
	if got := srv.Accepted(); got != b.N {
		b.Fatalf("server accepted %d of %d", got, b.N)
	}
}

// cpuMeter reads the process's user+system CPU time, so that a benchmark
// can report CPU per email: a figure that, unlike emails/s, hardly moves
// when other processes share the host. It counts the in-process SMTP
// server too.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMeter { return cpuMeter{start: processCPU()} }

func (c cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
	if used := processCPU() - c.start; used > 0 {
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/email")
	}
}
