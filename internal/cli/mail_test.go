package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
)

func mailTestEnv(t *testing.T, vals map[string]string) (*Env, *bytes.Buffer) {
	t.Helper()
	vals["LOG_FILE"] = filepath.Join(t.TempDir(), "tripin.log")
	cfg, err := config.FromMap(vals)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out, Cfg: cfg}
	t.Cleanup(env.closeAll)
	return env, &out
}

func TestMailTestSMTP(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Username: "ops", Password: "hunter22-secret"})
	env, out := mailTestEnv(t, srv.ConfigValues())
	if err := Run(context.Background(), env, []string{"mail:test", "--to", "Ops <ops@example.com>"}); err != nil {
		t.Fatalf("mail test: %v\n%s", err, out)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ops@example.com" {
		t.Fatalf("server received %+v", msgs)
	}
	p, err := msgs[0].Parse()
	if err != nil || p.Subject != "Tripin mail test" || p.Text == "" || p.HTML == "" {
		t.Fatalf("received %+v, %v", p, err)
	}
	for _, want := range []string{"C: EHLO", "C: MAIL FROM:<noreply@tripintravel.com>", "S: 250", "Sent in", "the server accepted message <mail-test."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "hunter22-secret") {
		t.Errorf("output shows the password:\n%s", out)
	}
}

func TestMailTestRejected(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Reply: func(int) error {
		return mailtest.ReplyError(550, "5.7.1", "Relaying denied")
	}})
	env, out := mailTestEnv(t, srv.ConfigValues())
	err := Run(context.Background(), env, []string{"mail", "test", "--to", "ops@example.com", "--quiet"})
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "permanent") {
		t.Fatalf("mail test against a 550: %v", err)
	}
	if strings.Contains(out.String(), "C: EHLO") {
		t.Errorf("--quiet printed the conversation:\n%s", out)
	}
	if code := exitCode(&bytes.Buffer{}, err); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

func TestMailTestUsage(t *testing.T) {
	env, _ := mailTestEnv(t, map[string]string{})
	for _, args := range [][]string{{"mail", "test"}, {"mail", "test", "--to", "not an address"}} {
		err := Run(context.Background(), env, args)
		if code := exitCode(&bytes.Buffer{}, err); code != 2 {
			t.Errorf("%v: exit code %d (%v), want 2", args, code, err)
		}
	}
}

// TestMailTestLogMailer checks that MAIL_MAILER=log writes the whole
// message into LOG_FILE.
func TestMailTestLogMailer(t *testing.T) {
	env, out := mailTestEnv(t, map[string]string{"MAIL_MAILER": "log"})
	if err := Run(context.Background(), env, []string{"mail", "test", "--to", "ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	env.closeAll()
	b, err := os.ReadFile(env.Cfg.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{"Mail logged instead of sent", "Subject: Tripin mail test", "To: <ops@example.com>",
		"Content-Type: multipart/alternative", "Content-Type: text/plain", "Content-Type: text/html", "the mail configuration works"} {
		if !strings.Contains(log, want) {
			t.Errorf("LOG_FILE lacks %q:\n%s", want, log)
		}
	}
	if !strings.Contains(out.String(), "Logged message") {
		t.Errorf("output: %s", out)
	}
}
