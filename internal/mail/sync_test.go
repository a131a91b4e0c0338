package mail_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
)

// TestSyncConnectionRunsInsideTx covers QUEUE_CONNECTION=sync: the job
// runs during InsertTx, before the booking's transaction commits, so it
// must read the booking (and write its sent record) through that
// transaction.
func TestSyncConnectionRunsInsideTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		if _, err := db.ExecContext(ctx, "CREATE TABLE mail_test_bookings (id INTEGER PRIMARY KEY, code VARCHAR(32) NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		loader := mail.BookingLoaderFunc(func(ctx context.Context, tx *sql.Tx, id int64) (*mail.BookingMail, error) {
			if tx == nil {
				return nil, errors.New("the job did not get the dispatching transaction")
			}
			b := sampleBooking(id, "pending")
			err := tx.QueryRowContext(ctx, db.Rebind("SELECT code FROM mail_test_bookings WHERE id = ?"), id).Scan(&b.Code)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, apperr.Errorf(apperr.ENOTFOUND, "booking %d not found", id)
			}
			return b, err
		})
		srv := mailtest.Start(t, mailtest.Options{})
		sent := mail.NewSentStore(db)
		s, err := mail.NewSender(mail.SenderParams{
			Mailer: smtpMailer(t, srv, "none", "", "", nil), Renderer: newRenderer(t),
			Bookings: loader, Sent: sent, FromAddress: "noreply@tripintravel.com",
		})
		if err != nil {
			t.Fatal(err)
		}
		ws := queue.NewWorkers()
		mail.AddWorkers(ws, s)
		client, err := queue.NewClient(nil, &queue.Config{Connection: queue.ConnectionSync, Workers: ws})
		if err != nil {
			t.Fatal(err)
		}
		book := func(id int64, code string) error {
			return db.InTx(ctx, func(tx *sql.Tx) error {
				if code != "" {
					if _, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO mail_test_bookings (id, code) VALUES (?, ?)"), id, code); err != nil {
						return err
					}
				}
				return mail.DispatchInvoiceTx(ctx, client, tx, id)
			})
		}
		if err := book(7, "TRP-SYNC07"); err != nil {
			t.Fatalf("booking with a sync queue: %v", err)
		}
		if srv.Accepted() != 1 {
			t.Fatalf("accepted %d messages, want 1", srv.Accepted())
		}
		if ok, err := sent.WasSent(ctx, nil, 7, mail.KindInvoice); err != nil || !ok {
			t.Fatalf("sent record after commit: %v, %v", ok, err)
		}
		// Dispatched again (the row exists now): nothing is sent twice.
		if err := book(7, ""); err != nil {
			t.Fatal(err)
		}
		if srv.Accepted() != 1 {
			t.Errorf("accepted %d messages after a second dispatch, want 1", srv.Accepted())
		}
	})
}
