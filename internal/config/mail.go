package config

import "fmt"

// mailEncryption reads MAIL_ENCRYPTION and Laravel 11's MAIL_SCHEME into
// MailEncryption (tls, ssl or none).
//
// MAIL_SCHEME=smtps is implicit TLS, as MAIL_ENCRYPTION=ssl.
// MAIL_SCHEME=smtp is a connection that starts in plain text, which
// MAIL_ENCRYPTION refines: tls (STARTTLS, required; the default) or none.
// Where the two keys contradict each other (smtps with tls or none, smtp
// with ssl) the process stops rather than guess which one was meant.
// MAIL_ENCRYPTION=null, Laravel's placeholder, means none, and yields to
// MAIL_SCHEME=smtps.
func (p *parser) mailEncryption(c *Config) {
	c.MailScheme = p.oneOf("MAIL_SCHEME", "", "smtp", "smtps", "null", "")
	if c.MailScheme == "null" {
		c.MailScheme = ""
	}
	raw := p.oneOf("MAIL_ENCRYPTION", "", "tls", "ssl", "none", "null", "")
	enc := raw
	switch raw {
	case "":
		enc = "tls"
	case "null":
		enc = "none"
	}
	switch c.MailScheme {
	case "smtps":
		if raw == "tls" || raw == "none" {
			p.fail("MAIL_SCHEME", fmt.Sprintf("smtps (implicit TLS) contradicts MAIL_ENCRYPTION=%s (%s); set MAIL_ENCRYPTION=ssl or remove one of the two", raw, encryptionMeaning[raw]))
			return
		}
		enc = "ssl"
	case "smtp":
		if raw == "ssl" {
			p.fail("MAIL_SCHEME", "smtp (plain text, then STARTTLS) contradicts MAIL_ENCRYPTION=ssl (implicit TLS); use MAIL_SCHEME=smtps or remove one of the two")
			return
		}
	}
	c.MailEncryption = enc
}

var encryptionMeaning = map[string]string{"tls": "STARTTLS", "ssl": "implicit TLS", "none": "no encryption"}
