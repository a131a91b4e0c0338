package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/store"
)

// Stored is one row of ops_notifications as the send job reads it.
type Stored struct {
	ID        int64
	Kind      Kind
	Subject   string
	Body      string
	Details   json.RawMessage
	CreatedAt time.Time
}

// querier is what the statements run on: the pool or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// The widths of the table's bounded columns, and of the free text kept.
const (
	maxSubject = 255
	maxBody    = 1000
	maxError   = 500
)

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// insert stores e and reports whether it did (false when a recent event
// with the same subject made it a duplicate). It is one statement: the
// dedupe check is part of the insert.
func (n *Notifier) insert(ctx context.Context, q querier, e Event) (bool, error) {
	if e.Kind == "" || e.Subject == "" {
		return false, fmt.Errorf("notify: record: event without kind or subject")
	}
	details := []byte("{}")
	if e.Details != nil {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return false, fmt.Errorf("notify: record %s: encode details: %w", e.Kind, err)
		}
		details = b
	}
	d := n.db.Dialect
	now := store.UnixNowSQL(d)
	args := []any{string(e.Kind), truncate(e.Subject, maxSubject), truncate(n.scrub(e.Body), maxBody), n.scrub(string(details))}
	var query string
	if e.DedupeWithin > 0 {
		from := ""
		if d == store.MySQL {
			from = " FROM DUAL"
		}
		query = "INSERT INTO ops_notifications (kind, subject, body, details, created_at) SELECT ?, ?, ?, ?, " + now + from +
			" WHERE NOT EXISTS (SELECT 1 FROM ops_notifications WHERE subject = ? AND created_at > " + now + " - ?)"
		args = append(args, args[1], int64((e.DedupeWithin+time.Second-1)/time.Second))
	} else {
		query = "INSERT INTO ops_notifications (kind, subject, body, details, created_at) VALUES (?, ?, ?, ?, " + now + ")"
	}
	res, err := q.ExecContext(ctx, store.Rebind(d, query), args...)
	if err != nil {
		return false, fmt.Errorf("notify: record %s: %w", e.Kind, err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("notify: record %s: %w", e.Kind, err)
	}
	return rows > 0, nil
}

// unsent returns up to limit events not yet delivered to ch, oldest first,
// and how many more there are.
func (n *Notifier) unsent(ctx context.Context, ch *channel, limit int) ([]Stored, int, error) {
	where := " FROM ops_notifications WHERE sent_at IS NULL AND " + ch.column + " IS NULL"
	rows, err := n.db.Read.QueryContext(ctx, store.Rebind(n.db.Dialect,
		"SELECT id, kind, subject, body, details, created_at"+where+" ORDER BY id LIMIT ?"), limit)
	if err != nil {
		return nil, 0, fmt.Errorf("notify: read unsent events: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var (
			s       Stored
			kind    string
			details string
			created int64
		)
		if err := rows.Scan(&s.ID, &kind, &s.Subject, &s.Body, &details, &created); err != nil {
			return nil, 0, fmt.Errorf("notify: read unsent events: %w", err)
		}
		s.Kind, s.Details, s.CreatedAt = Kind(kind), json.RawMessage(details), time.Unix(created, 0)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("notify: read unsent events: %w", err)
	}
	if len(out) < limit {
		return out, 0, nil
	}
	var total int
	if err := n.db.Read.QueryRowContext(ctx, "SELECT COUNT(*)"+where).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("notify: count unsent events: %w", err)
	}
	return out, max(total-len(out), 0), nil
}

// markChannel stamps the events ch has received.
func (n *Notifier) markChannel(ctx context.Context, ch *channel, events []Stored, at time.Time) error {
	if len(events) == 0 {
		return nil
	}
	args := make([]any, 0, len(events)+1)
	args = append(args, at.Unix())
	for _, e := range events {
		args = append(args, e.ID)
	}
	q := "UPDATE ops_notifications SET " + ch.column + " = ? WHERE id IN (?" + strings.Repeat(", ?", len(events)-1) + ")"
	if _, err := n.db.ExecContext(ctx, store.Rebind(n.db.Dialect, q), args...); err != nil {
		return fmt.Errorf("notify: mark events sent to %s: %w", ch.name, err)
	}
	return nil
}

// markSent stamps sent_at on the events every configured channel has
// received; with no channel configured, on every unsent event (skipped).
func (n *Notifier) markSent(ctx context.Context, at time.Time) (int64, error) {
	q := "UPDATE ops_notifications SET sent_at = ? WHERE sent_at IS NULL"
	for _, ch := range n.channels {
		q += " AND " + ch.column + " IS NOT NULL"
	}
	res, err := n.db.ExecContext(ctx, store.Rebind(n.db.Dialect, q), at.Unix())
	if err != nil {
		return 0, fmt.Errorf("notify: mark events sent: %w", err)
	}
	return res.RowsAffected()
}
