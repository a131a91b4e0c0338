package mail

import (
	"bytes"
	"context"
	"log/slog"
)

// LogMailer writes each whole message, MIME headers and parts included, to
// a logger instead of sending it: the development setup of MAIL_MAILER=log,
// where the message lands in LOG_FILE.
type LogMailer struct {
	from   Address
	logger *slog.Logger
}

// NewLogMailer returns a mailer that logs messages from the given sender.
func NewLogMailer(from Address, logger *slog.Logger) *LogMailer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LogMailer{from: from, logger: logger}
}

// Send renders msg as it would go over SMTP and logs it at info level.
func (m *LogMailer) Send(ctx context.Context, msg *Message) (*Receipt, error) {
	gm, err := buildMsg(m.from, msg)
	if err != nil {
		return nil, &SendError{Temporary: false, Err: err}
	}
	var buf bytes.Buffer
	if _, err := gm.WriteTo(&buf); err != nil {
		return nil, &SendError{Temporary: false, Err: err}
	}
	id := gm.GetMessageID()
	m.logger.InfoContext(ctx, "Mail logged instead of sent",
		"mailer", "log", "to", msg.To.Email, "subject", msg.Subject, "message_id", id,
		"message", buf.String())
	return &Receipt{MessageID: id}, nil
}
