package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Part is one leaf of a parsed MIME message, its body decoded.
type Part struct {
	ContentType string // media type without parameters, "image/png"
	ContentID   string // without angle brackets
	Disposition string // "inline", "attachment" or ""
	Filename    string
	Data        []byte
}

// Parsed is a received message taken apart.
type Parsed struct {
	Header  mail.Header
	Subject string
	From    string
	To      string
	// MultipartTypes lists the multipart containers met, outermost first
	// ("multipart/related", "multipart/alternative").
	MultipartTypes []string
	Text           string
	HTML           string
	// Parts are all leaves, the text and HTML parts included.
	Parts []*Part
}

// Inline returns the leaf with the given Content-ID, or nil.
func (p *Parsed) Inline(contentID string) *Part {
	for _, part := range p.Parts {
		if part.ContentID == contentID {
			return part
		}
	}
	return nil
}

// Parse parses the message.
func (r *Received) Parse() (*Parsed, error) { return Parse(r.Data) }

// Parse takes a raw RFC 5322 message apart: decoded headers, the text and
// HTML bodies and every leaf part with its transfer encoding undone.
func Parse(raw []byte) (*Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("mailtest: parse: %w", err)
	}
	dec := new(mime.WordDecoder)
	p := &Parsed{Header: m.Header}
	for _, h := range []struct {
		name string
		dst  *string
	}{{"Subject", &p.Subject}, {"From", &p.From}, {"To", &p.To}} {
		v, err := dec.DecodeHeader(m.Header.Get(h.name))
		if err != nil {
			return nil, fmt.Errorf("mailtest: parse %s: %w", h.name, err)
		}
		*h.dst = v
	}
	if err := p.walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"),
		m.Header.Get("Content-ID"), m.Header.Get("Content-Disposition"), m.Body); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Parsed) walk(contentType, encoding, contentID, disposition string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("mailtest: parse content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		p.MultipartTypes = append(p.MultipartTypes, mt)
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: parse %s: %w", mt, err)
			}
			if err := p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"),
				part.Header.Get("Content-ID"), part.Header.Get("Content-Disposition"), part); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("mailtest: read %s part: %w", mt, err)
	}
	leaf := &Part{ContentType: mt, ContentID: strings.Trim(contentID, "<> "), Data: data}
	if disposition != "" {
		if d, dp, err := mime.ParseMediaType(disposition); err == nil {
			leaf.Disposition, leaf.Filename = d, dp["filename"]
		}
	}
	if leaf.Filename == "" {
		leaf.Filename = params["name"]
	}
	p.Parts = append(p.Parts, leaf)
	if leaf.Disposition != "attachment" {
		switch mt {
		case "text/plain":
			if p.Text == "" {
				p.Text = string(data)
			}
		case "text/html":
			if p.HTML == "" {
				p.HTML = string(data)
			}
		}
	}
	return nil
}

// newlineStripper drops CR and LF so base64 bodies wrapped at 76 columns
// decode.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(b []byte) (int, error) {
	for {
		k, err := n.r.Read(b)
		j := 0
		for _, c := range b[:k] {
			if c != '\r' && c != '\n' {
				b[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
