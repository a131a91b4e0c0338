package mail_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

// engineFixture is the whole path: the queue engine with the driver of a
// dialect, the email workers, and an SMTP server in the test.
type engineFixture struct {
	*fixture
	client *queue.Client
}

func newEngineFixture(t *testing.T, d store.Dialect, opts mailtest.Options) *engineFixture {
	t.Helper()
	f := newFixture(t, d, opts, fakeBookings{42: sampleBooking(42, "paid")})
	ws := queue.NewWorkers()
	mail.AddWorkers(ws, f.sender)
	logger, _ := newLogger()
	var drv driver.Driver
	switch d {
	case store.MySQL:
		md, err := tripinmysql.New(context.Background(), f.db.DB, tripinmysql.Options{})
		if err != nil {
			t.Fatal(err)
		}
		drv = md
	case store.PgSQL:
		drv = tripinpgsql.New(f.db.DB, tripinpgsql.Options{})
	default:
		drv = tripinsqlite.New(f.db.DB, tripinsqlite.Options{})
	}
	client, err := queue.NewClient(drv, &queue.Config{Workers: ws, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return &engineFixture{fixture: f, client: client}
}

// dispatch inserts the email jobs of booking 42 as the booking and payment
// code do: inside their transactions.
func (f *engineFixture) dispatch(t *testing.T, fn func(ctx context.Context, c mail.TxInserter, tx *sql.Tx, id int64) error) {
	t.Helper()
	ctx := context.Background()
	if err := f.db.InTx(ctx, func(tx *sql.Tx) error { return fn(ctx, f.client, tx, 42) }); err != nil {
		t.Fatal(err)
	}
}

func (f *engineFixture) work(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := f.client.Run(ctx, queue.WorkParams{
		Queues: []string{mail.QueueEmails}, StopWhenEmpty: true, RestartInterval: -1, Output: &logBuffer{},
	})
	if err != nil {
		t.Fatalf("queue run: %v", err)
	}
}

func (f *engineFixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEngineDeliversInvoiceAndETicket(t *testing.T) {
	storetest.Each(t, testEngineDeliversInvoiceAndETicket)
}

func testEngineDeliversInvoiceAndETicket(t *testing.T, d store.Dialect) {
	f := newEngineFixture(t, d, mailtest.Options{})
	f.dispatch(t, mail.DispatchInvoiceTx)
	// Three payment notifications for the same booking: one e-ticket job.
	for i := 0; i < 3; i++ {
		f.dispatch(t, mail.DispatchETicketTx)
	}
	if n := f.count(t, "jobs"); n != 2 {
		t.Fatalf("%d jobs queued, want 2 (the e-ticket is unique per booking)", n)
	}
	f.work(t)
	msgs := f.srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("received %d messages, want 2", len(msgs))
	}
	subjects := map[string]*mailtest.Received{}
	for _, m := range msgs {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		subjects[p.Subject] = m
	}
	checkReceived(t, subjects["Invoice TRP-7K2M9Q: Bromo Sunrise Trip"], "Invoice TRP-7K2M9Q: Bromo Sunrise Trip")
	p := checkReceived(t, subjects["Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip"], "Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip")
	checkQRInline(t, p)
	if n := f.count(t, "jobs") + f.count(t, "failed_jobs"); n != 0 {
		t.Errorf("%d jobs left or failed", n)
	}

	// The e-ticket job dispatched again after it ran (a late duplicate
	// notification) is queued, runs, and sends nothing.
	f.dispatch(t, mail.DispatchETicketTx)
	f.work(t)
	if got := f.srv.Accepted(); got != 2 {
		t.Errorf("accepted %d messages after a late duplicate, want 2", got)
	}
}

func TestEngineRetriesAfter451(t *testing.T) {
	storetest.Each(t, testEngineRetriesAfter451)
}

func testEngineRetriesAfter451(t *testing.T, d store.Dialect) {
	f := newEngineFixture(t, d, mailtest.Options{Reply: func(n int) error {
		if n == 1 {
			return mailtest.ReplyError(451, "4.7.1", "Greylisted")
		}
		return nil
	}})
	ctx := context.Background()
	// The kind's backoff is 10 s; this dispatch shortens it so the retry
	// is due at once.
	if err := f.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := f.client.InsertTx(ctx, tx, mail.SendInvoiceEmail{BookingID: 42}, &queue.InsertOpts{Backoff: []time.Duration{time.Millisecond}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for f.srv.Accepted() == 0 && time.Now().Before(deadline) {
		f.work(t)
		time.Sleep(20 * time.Millisecond)
	}
	if f.srv.Accepted() != 1 || f.srv.Attempts() != 2 {
		t.Fatalf("accepted %d in %d attempts, want 1 in 2", f.srv.Accepted(), f.srv.Attempts())
	}
	if n := f.count(t, "jobs") + f.count(t, "failed_jobs"); n != 0 {
		t.Errorf("%d jobs left or failed", n)
	}
}

func TestEngineFailsJobAfter550(t *testing.T) {
	storetest.Each(t, testEngineFailsJobAfter550)
}

func testEngineFailsJobAfter550(t *testing.T, d store.Dialect) {
	f := newEngineFixture(t, d, mailtest.Options{Reply: func(int) error {
		return mailtest.ReplyError(550, "5.1.1", "Mailbox unavailable")
	}})
	f.dispatch(t, mail.DispatchInvoiceTx)
	f.work(t)
	if f.srv.Attempts() != 1 {
		t.Errorf("%d attempts, want 1: a 5xx must not be retried", f.srv.Attempts())
	}
	var queueName, payload, exception string
	err := f.db.QueryRow("SELECT queue, payload, exception FROM failed_jobs").Scan(&queueName, &payload, &exception)
	if err != nil {
		t.Fatalf("failed_jobs row: %v", err)
	}
	if queueName != "emails" || !strings.Contains(payload, "SendInvoiceEmail") {
		t.Errorf("failed job queue %q payload %s", queueName, payload)
	}
	if !strings.Contains(exception, "550") || !strings.Contains(exception, "Mailbox unavailable") {
		t.Errorf("failed_jobs.exception lacks the reason:\n%s", exception)
	}
	if strings.Contains(payload, "siti@example.com") {
		t.Errorf("the payload holds personal data: %s", payload)
	}
}
