package mail

import (
	"bytes"
	"fmt"

	gomail "github.com/wneessen/go-mail"
)

// buildMsg turns a Message into a go-mail message: a multipart/alternative
// of the text and HTML parts, wrapped in multipart/related with the inline
// files when there are any. Both mailers use it, so the log mailer writes
// exactly what the SMTP mailer would send.
func buildMsg(from Address, m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	var err error
	if from.Name != "" {
		err = msg.FromFormat(from.Name, from.Email)
	} else {
		err = msg.From(from.Email)
	}
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if m.To.Name != "" {
		err = msg.AddToFormat(m.To.Name, m.To.Email)
	} else {
		err = msg.To(m.To.Email)
	}
	if err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	msg.Subject(m.Subject)
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	} else {
		msg.SetMessageID()
	}
	msg.SetDate()
	msg.SetUserAgent("Tripin")
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	for _, in := range m.Inline {
		opts := []gomail.FileOption{gomail.WithFileContentID("<" + in.ContentID + ">")}
		if in.ContentType != "" {
			opts = append(opts, gomail.WithFileContentType(gomail.ContentType(in.ContentType)))
		}
		if err := msg.EmbedReader(in.Filename, bytes.NewReader(in.Data), opts...); err != nil {
			return nil, fmt.Errorf("inline %s: %w", in.Filename, err)
		}
	}
	return msg, nil
}
