package cli

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"time"

	tripinmail "github.com/tripintravel/tripin/internal/mail"
)

// mailCommands are the commands of this file; root.go lists every file's.
var mailCommands = []*Command{
	{
		Name: "mail test", Aliases: []string{"mail:test"}, Usage: "--to ADDRESS [--quiet]",
		Summary: "send a test email with the current MAIL_* configuration and show the SMTP exchange",
		Run:     runMailTest,
	},
}

func runMailTest(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "mail test")
	to := fs.String("to", "", "recipient address (required)")
	quiet := fs.Bool("quiet", false, "print only the outcome, not the SMTP conversation")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usagef("mail test: --to ADDRESS is required")
	}
	addr, err := mail.ParseAddress(*to)
	if err != nil {
		return usagef("mail test: --to %q is not an email address", *to)
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	logger, err := env.Logger(false)
	if err != nil {
		return err
	}

	var mailer tripinmail.Mailer
	where := "log (LOG_FILE " + cfg.LogFile + ")"
	if cfg.MailMailer == "smtp" {
		sc := tripinmail.SMTPConfigFrom(cfg)
		if !*quiet {
			sc.Trace = env.Stdout
		}
		mailer, err = tripinmail.NewSMTPMailer(sc, logger)
		where = fmt.Sprintf("smtp %s:%d (encryption %s", cfg.MailHost, cfg.MailPort, cfg.MailEncryption)
		if cfg.MailUsername != "" {
			where += ", user " + cfg.MailUsername
		}
		where += ")"
	} else {
		mailer, err = tripinmail.New(cfg, logger)
	}
	if err != nil {
		return err
	}

	now := time.Now()
	msg, err := tripinmail.TestMail(tripinmail.TestMailParams{
		To: tripinmail.Address{Name: addr.Name, Email: addr.Address}, AppName: cfg.Name(), AppURL: cfg.AppURL,
		Mailer: where, From: cfg.MailFromName + " <" + cfg.MailFromAddress + ">",
		SentAt: now, Location: cfg.AppTimezone, Locale: cfg.AppLocale,
		MessageID: "mail-test." + strconv.FormatInt(now.UnixNano(), 36) + "@" + domainOf(cfg.MailFromAddress),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Sending a test message to %s via %s\n", addr.Address, where)
	start := time.Now()
	receipt, err := mailer.Send(ctx, msg)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		var se *tripinmail.SendError
		kind := "temporary: a retry may succeed"
		if errors.As(err, &se) && !se.Temporary {
			kind = "permanent: fix the configuration or the address"
		}
		return fmt.Errorf("mail test: not sent after %s (%s): %w", took, kind, err)
	}
	if cfg.MailMailer == "smtp" {
		fmt.Fprintf(env.Stdout, "Sent in %s: the server accepted message %s with %q\n", took, receipt.MessageID, receipt.Reply)
	} else {
		fmt.Fprintf(env.Stdout, "Logged message %s to %s (MAIL_MAILER=log sends nothing)\n", receipt.MessageID, cfg.LogFile)
	}
	return nil
}

func domainOf(address string) string {
	for i := len(address) - 1; i >= 0; i-- {
		if address[i] == '@' {
			return address[i+1:]
		}
	}
	return "tripin.invalid"
}
