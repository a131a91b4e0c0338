package mail

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// SentEmail records one booking email that the mail server accepted.
type SentEmail struct {
	BookingID int64
	// Kind is KindInvoice or KindETicket, or a re-send's own key.
	Kind      string
	MessageID string
	Recipient string
	// Reply is the server's answer to the message ("2.0.0 Ok: queued as …").
	Reply  string
	SentAt time.Time
}

// SentLog remembers which booking emails went out, so a retried job does
// not send them again.
//
// tx, when not nil, is the transaction an email job was dispatched in,
// which the sync connection runs it inside (queue.Job.Tx): the record is
// read and written through it.
type SentLog interface {
	// WasSent reports whether the email kind of bookingID was recorded.
	WasSent(ctx context.Context, tx *sql.Tx, bookingID int64, kind string) (bool, error)
	// RecordSent records an accepted email. Recording one that is already
	// recorded is not an error.
	RecordSent(ctx context.Context, tx *sql.Tx, e *SentEmail) error
}

// SentStore is the SentLog in the sent_emails table.
type SentStore struct {
	db *store.DB
}

// NewSentStore returns the sent_emails store of db.
func NewSentStore(db *store.DB) *SentStore { return &SentStore{db: db} }

// querier is what SentStore runs statements on: the pools, or the
// dispatching transaction of a job run inline.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader and writer return tx, the dispatching transaction of a job run
// inline, when there is one, else the read pool and the write pool.
func (s *SentStore) reader(tx *sql.Tx) querier {
	if tx != nil {
		return tx
	}
	return s.db.Read
}

func (s *SentStore) writer(tx *sql.Tx) querier {
	if tx != nil {
		return tx
	}
	return s.db.DB
}

// WasSent reports whether the email kind of bookingID was recorded.
func (s *SentStore) WasSent(ctx context.Context, tx *sql.Tx, bookingID int64, kind string) (bool, error) {
	var n int
	err := s.reader(tx).QueryRowContext(ctx, s.db.Rebind(
		"SELECT COUNT(*) FROM sent_emails WHERE booking_id = ? AND kind = ?"), bookingID, kind).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: find sent email: %w", err)
	}
	return n > 0, nil
}

// RecordSent inserts e; a row already there for its booking and kind wins.
// The conflict is skipped in SQL rather than caught as an error, because
// an error would abort a PostgreSQL transaction the insert runs in.
func (s *SentStore) RecordSent(ctx context.Context, tx *sql.Tx, e *SentEmail) error {
	reply := e.Reply
	if len(reply) > 512 {
		// Cut on a character boundary: PostgreSQL rejects broken UTF-8.
		reply = strings.ToValidUTF8(reply[:512], "")
	}
	sentAt := e.SentAt
	if sentAt.IsZero() {
		sentAt = time.Now()
	}
	q := "INSERT INTO sent_emails (booking_id, kind, message_id, recipient, reply, sent_at) VALUES (?, ?, ?, ?, ?, ?)"
	if s.db.Dialect == store.MySQL {
		q += " ON DUPLICATE KEY UPDATE id = id"
	} else {
		q += " ON CONFLICT (booking_id, kind) DO NOTHING"
	}
	_, err := s.writer(tx).ExecContext(ctx, s.db.Rebind(q),
		e.BookingID, e.Kind, e.MessageID, e.Recipient, reply, sentAt.UTC())
	if err != nil {
		return fmt.Errorf("store: record sent email: %w", err)
	}
	return nil
}

// List returns the recorded emails of bookingID, oldest first.
func (s *SentStore) List(ctx context.Context, bookingID int64) ([]*SentEmail, error) {
	rows, err := s.db.Read.QueryContext(ctx, s.db.Rebind(
		"SELECT booking_id, kind, message_id, recipient, reply, sent_at FROM sent_emails WHERE booking_id = ? ORDER BY id"),
		bookingID)
	if err != nil {
		return nil, fmt.Errorf("store: list sent emails: %w", err)
	}
	defer rows.Close()
	var out []*SentEmail
	for rows.Next() {
		e := &SentEmail{}
		if err := rows.Scan(&e.BookingID, &e.Kind, &e.MessageID, &e.Recipient, &e.Reply, &e.SentAt); err != nil {
			return nil, fmt.Errorf("store: list sent emails: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sent emails: %w", err)
	}
	return out, nil
}
