package mail_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

func invoiceJob(bookingID int64, attempt int) *queue.Job[mail.SendInvoiceEmail] {
	return &queue.Job[mail.SendInvoiceEmail]{
		JobRow: &driver.JobRow{ID: 1, UUID: "0b8e5a1c-invoice", Kind: "SendInvoiceEmail", Attempts: attempt},
		Args:   mail.SendInvoiceEmail{BookingID: bookingID},
	}
}

func eticketJob(bookingID int64, attempt int, uuid string, resend bool) *queue.Job[mail.SendETicketEmail] {
	return &queue.Job[mail.SendETicketEmail]{
		JobRow: &driver.JobRow{ID: 2, UUID: uuid, Kind: "SendETicketEmail", Attempts: attempt},
		Args:   mail.SendETicketEmail{BookingID: bookingID, Resend: resend},
	}
}

func TestJobInsertOpts(t *testing.T) {
	want := func(o queue.InsertOpts, unique string) {
		t.Helper()
		if o.Queue != "emails" || o.Tries != 3 || o.Timeout != 120*time.Second || len(o.Backoff) == 0 || o.UniqueKey != unique {
			t.Errorf("InsertOpts = %+v, want emails/3/120s/backoff/unique %q", o, unique)
		}
	}
	want(mail.SendInvoiceEmail{BookingID: 7}.InsertOpts(), "")
	want(mail.SendETicketEmail{BookingID: 7}.InsertOpts(), "eticket:7")
	want(mail.SendETicketEmail{BookingID: 7, Resend: true}.InsertOpts(), "")
	want(mail.SendETicketEmail{}.InsertOpts(), "")
	if k := (mail.SendInvoiceEmail{}).Kind(); k != "SendInvoiceEmail" {
		t.Errorf("Kind = %q", k)
	}
	if k := (mail.SendETicketEmail{}).Kind(); k != "SendETicketEmail" {
		t.Errorf("Kind = %q", k)
	}
}

func TestInvoiceJobDelivers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d, mailtest.Options{}, fakeBookings{42: sampleBooking(42, "pending")})
		w := &mail.InvoiceWorker{Sender: f.sender}
		if err := w.Work(context.Background(), invoiceJob(42, 1)); err != nil {
			t.Fatalf("Work: %v", err)
		}
		msgs := f.srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("received %d messages, want 1", len(msgs))
		}
		p := checkReceived(t, msgs[0], "Invoice TRP-7K2M9Q: Bromo Sunrise Trip")
		recs, err := f.sent.List(context.Background(), 42)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Kind != "invoice" || recs[0].Recipient != "siti@example.com" ||
			recs[0].MessageID != p.Header.Get("Message-Id") {
			t.Fatalf("sent records = %+v, message id %q", recs, p.Header.Get("Message-Id"))
		}
		if !strings.Contains(f.logs.String(), "Email sent") {
			t.Errorf("no 'Email sent' log line:\n%s", f.logs)
		}
	})
}

func TestETicketJobDeliversQR(t *testing.T) {
	f := newFixture(t, store.SQLite, mailtest.Options{}, fakeBookings{42: sampleBooking(42, "paid")})
	w := &mail.ETicketWorker{Sender: f.sender}
	if err := w.Work(context.Background(), eticketJob(42, 1, "u-1", false)); err != nil {
		t.Fatalf("Work: %v", err)
	}
	msgs := f.srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	checkQRInline(t, checkReceived(t, msgs[0], "Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip"))
}

// TestRetryAfter451 is a server that answers 451 and then 250: the first
// attempt returns a retryable error, the second delivers, and exactly one
// message arrives.
func TestRetryAfter451(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		opts := mailtest.Options{Reply: func(n int) error {
			if n == 1 {
				return mailtest.ReplyError(451, "4.7.1", "Greylisted, please try again")
			}
			return nil
		}}
		f := newFixture(t, d, opts, fakeBookings{42: sampleBooking(42, "pending")})
		w := &mail.InvoiceWorker{Sender: f.sender}
		err := w.Work(context.Background(), invoiceJob(42, 1))
		if err == nil {
			t.Fatal("first Work succeeded against a 451")
		}
		if queue.IsPermanent(err) {
			t.Fatalf("451 returned a permanent error: %v", err)
		}
		if !strings.Contains(f.logs.String(), "Failed to send") || !strings.Contains(f.logs.String(), "451 4.7.1 Greylisted") {
			t.Errorf("no 'Failed to send' line with the reply:\n%s", f.logs)
		}
		if err := w.Work(context.Background(), invoiceJob(42, 2)); err != nil {
			t.Fatalf("second Work: %v", err)
		}
		if got := len(f.srv.Messages()); got != 1 || f.srv.Attempts() != 2 {
			t.Fatalf("accepted %d messages in %d attempts, want 1 in 2", got, f.srv.Attempts())
		}
	})
}

// TestPermanentAfter550 is a server that answers 550: the job fails for
// good, and the log names the booking code and the reply but never the
// SMTP password.
func TestPermanentAfter550(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		opts := mailtest.Options{
			Encryption: "tls", Username: "tripin", Password: testPassword,
			Reply: func(int) error { return mailtest.ReplyError(550, "5.1.1", "Mailbox siti@example.com does not exist") },
		}
		f := newFixture(t, d, opts, fakeBookings{42: sampleBooking(42, "pending")})
		w := &mail.InvoiceWorker{Sender: f.sender}
		err := w.Work(context.Background(), invoiceJob(42, 1))
		if !queue.IsPermanent(err) {
			t.Fatalf("Work = %v, want a permanent error", err)
		}
		if !strings.Contains(err.Error(), "550") {
			t.Errorf("error lacks the reply: %v", err)
		}
		logs := f.logs.String()
		var line string
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "Failed to send") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("no 'Failed to send' line:\n%s", logs)
		}
		for _, want := range []string{"TRP-7K2M9Q", "550 5.1.1 Mailbox siti@example.com does not exist", "level=ERROR", "permanent=true"} {
			if !strings.Contains(line, want) {
				t.Errorf("log line lacks %q:\n%s", want, line)
			}
		}
		if strings.Contains(logs, testPassword) || strings.Contains(err.Error(), testPassword) {
			t.Errorf("the SMTP password leaked:\n%s\n%v", logs, err)
		}
		if n, _ := f.sent.List(context.Background(), 42); len(n) != 0 {
			t.Errorf("a rejected email was recorded as sent: %+v", n)
		}
	})
}

// TestNoSecondEmailAfterLostCompletion is a crash between the send and
// the job's completion: the queue runs the job again, and the email is not
// sent again.
func TestNoSecondEmailAfterLostCompletion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d, mailtest.Options{}, fakeBookings{42: sampleBooking(42, "paid")})
		inv := &mail.InvoiceWorker{Sender: f.sender}
		tick := &mail.ETicketWorker{Sender: f.sender}
		for attempt := 1; attempt <= 3; attempt++ {
			if err := inv.Work(context.Background(), invoiceJob(42, attempt)); err != nil {
				t.Fatalf("invoice attempt %d: %v", attempt, err)
			}
			// A duplicate e-ticket job (another UUID) is deduplicated too.
			if err := tick.Work(context.Background(), eticketJob(42, 1, "dup-"+string(rune('a'+attempt)), false)); err != nil {
				t.Fatalf("e-ticket attempt %d: %v", attempt, err)
			}
		}
		if got := f.srv.Accepted(); got != 2 {
			t.Fatalf("server accepted %d messages, want 2 (one invoice, one e-ticket)", got)
		}
		if !strings.Contains(f.logs.String(), "Email already sent") {
			t.Errorf("no 'already sent' log line:\n%s", f.logs)
		}
	})
}

func TestResendSendsOnceMore(t *testing.T) {
	f := newFixture(t, store.SQLite, mailtest.Options{}, fakeBookings{42: sampleBooking(42, "paid")})
	w := &mail.ETicketWorker{Sender: f.sender}
	ctx := context.Background()
	if err := w.Work(ctx, eticketJob(42, 1, "first", false)); err != nil {
		t.Fatal(err)
	}
	// A re-send job, worked twice (its completion lost once).
	for attempt := 1; attempt <= 2; attempt++ {
		if err := w.Work(ctx, eticketJob(42, attempt, "resend-1", true)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := f.srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("accepted %d messages, want 2", len(msgs))
	}
	a, _ := msgs[0].Parse()
	b, _ := msgs[1].Parse()
	if a.Header.Get("Message-Id") == b.Header.Get("Message-Id") {
		t.Errorf("the re-send reused the Message-ID %s", a.Header.Get("Message-Id"))
	}
}

func TestJobSkipsAndFailures(t *testing.T) {
	bookings := fakeBookings{
		1: sampleBooking(1, "expired"),
		2: sampleBooking(2, "pending"),
		3: sampleBooking(3, "refunded"),
	}
	f := newFixture(t, store.SQLite, mailtest.Options{}, bookings)
	ctx := context.Background()
	inv := &mail.InvoiceWorker{Sender: f.sender}
	tick := &mail.ETicketWorker{Sender: f.sender}

	// No invoice for an expired booking, no e-ticket for a refunded one.
	if err := inv.Work(ctx, invoiceJob(1, 1)); err != nil {
		t.Errorf("invoice of an expired booking: %v", err)
	}
	if err := tick.Work(ctx, eticketJob(3, 1, "u3", false)); err != nil {
		t.Errorf("e-ticket of a refunded booking: %v", err)
	}
	// An e-ticket for a booking not yet paid is retried.
	if err := tick.Work(ctx, eticketJob(2, 1, "u2", false)); err == nil || queue.IsPermanent(err) {
		t.Errorf("e-ticket of a pending booking: %v, want a retryable error", err)
	}
	// An unknown booking or a job without a booking fails for good.
	if err := inv.Work(ctx, invoiceJob(99, 1)); !queue.IsPermanent(err) {
		t.Errorf("invoice of an unknown booking: %v, want permanent", err)
	}
	if err := inv.Work(ctx, invoiceJob(0, 1)); !queue.IsPermanent(err) {
		t.Errorf("invoice without booking: %v, want permanent", err)
	}
	if n := f.srv.Attempts(); n != 0 {
		t.Errorf("%d messages reached the server", n)
	}
}

// TestDatabaseErrorIsRetried checks that a failing sent-log lookup
// retries the job instead of sending blind.
func TestDatabaseErrorIsRetried(t *testing.T) {
	f := newFixture(t, store.SQLite, mailtest.Options{}, fakeBookings{42: sampleBooking(42, "pending")})
	f.db.Read.Close()
	err := (&mail.InvoiceWorker{Sender: f.sender}).Work(context.Background(), invoiceJob(42, 1))
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("Work with the database closed: %v, want a retryable error", err)
	}
	if f.srv.Attempts() != 0 {
		t.Errorf("sent without checking the sent log")
	}
}

func TestSentStoreRecordTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		s := mail.NewSentStore(storetest.Open(t, d))
		ctx := context.Background()
		rec := &mail.SentEmail{BookingID: 5, Kind: "invoice", MessageID: "<a@b>", Recipient: "x@example.com",
			Reply: strings.Repeat("r", 600), SentAt: time.Now()}
		for i := 0; i < 2; i++ {
			if err := s.RecordSent(ctx, nil, rec); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		ok, err := s.WasSent(ctx, nil, 5, "invoice")
		if err != nil || !ok {
			t.Fatalf("WasSent = %v, %v", ok, err)
		}
		if ok, _ := s.WasSent(ctx, nil, 5, "eticket"); ok {
			t.Error("eticket reported sent")
		}
		list, err := s.List(ctx, 5)
		if err != nil || len(list) != 1 || len(list[0].Reply) != 512 {
			t.Fatalf("List = %+v, %v", list, err)
		}
	})
}

// fakeInserter records InsertTx calls.
type fakeInserter struct {
	args []queue.JobArgs
}

func (f *fakeInserter) InsertTx(_ context.Context, tx *sql.Tx, args queue.JobArgs, _ *queue.InsertOpts) (*queue.InsertResult, error) {
	if tx == nil {
		return nil, errors.New("nil tx")
	}
	f.args = append(f.args, args)
	return &queue.InsertResult{ID: int64(len(f.args))}, nil
}

func TestDispatchTx(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	ins := &fakeInserter{}
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		if err := mail.DispatchInvoiceTx(context.Background(), ins, tx, 7); err != nil {
			return err
		}
		return mail.DispatchETicketTx(context.Background(), ins, tx, 7)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.args) != 2 || ins.args[0] != (mail.SendInvoiceEmail{BookingID: 7}) || ins.args[1] != (mail.SendETicketEmail{BookingID: 7}) {
		t.Fatalf("inserted %#v", ins.args)
	}
}
