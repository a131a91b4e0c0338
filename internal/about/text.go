package about

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/doctor"
)

// width is the column the values of WriteText end at.
const width = 78

// WriteText writes the report in sections, one setting a line with its
// value on the right, as `artisan about` prints:
//
//	Database
//	  Driver ....................................................... mysql
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	section := func(name string) { fmt.Fprintf(&b, "\n%s\n", name) }
	line := func(k, v string) {
		if v == "" {
			v = "-"
		}
		dots := max(width-len(k)-len(v)-4, 3)
		fmt.Fprintf(&b, "  %s %s %s\n", k, strings.Repeat(".", dots), v)
	}
	if len(r.Errors) > 0 {
		section("Configuration errors")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	e := r.Environment
	section("Environment")
	line("Environment", e.AppEnv)
	line("Debug", strconv.FormatBool(e.Debug))
	line("URL", e.URL)
	line("Timezone", e.Timezone)
	version := e.Version
	if e.Revision != "" {
		version += " (" + e.Revision + ")"
	}
	line("Tripin version", version)
	line("Go version", e.GoVersion)
	line("HTTP address", e.HTTPAddr)
	line("Log", e.LogLevel+", "+e.LogFile)

	d := r.Database
	section("Database")
	line("Driver", d.Driver)
	line("Database", d.Database)
	if d.Server != "" {
		line("Server", d.Server)
	}
	if d.Error != "" {
		line("Error", d.Error)
	}
	if d.Version != "" {
		line("Server version", d.Version)
		line("Size", doctor.FormatBytes(d.SizeBytes))
		schema := "current"
		if d.PendingMigrations > 0 {
			schema = fmt.Sprintf("%d migration(s) pending", d.PendingMigrations)
		}
		line("Schema", schema)
	}

	q := r.Queue
	section("Queue")
	line("Connection", q.Connection)
	if q.Redis != "" {
		line("Redis", q.Redis)
		line("Key prefix", q.Prefix)
	}
	line("Retry after", (time.Duration(q.RetryAfterSeconds) * time.Second).String())
	if q.Error != "" {
		line("Error", q.Error)
	}
	for _, s := range q.Queues {
		v := fmt.Sprintf("%d pending, %d delayed, %d reserved, %d failed", s.Pending, s.Delayed, s.Reserved, s.Failed)
		if s.Paused {
			v += ", paused"
		}
		line("Queue "+s.Queue, v)
	}

	m := r.Mail
	section("Mail")
	line("Mailer", m.Mailer)
	if m.Server != "" {
		line("Server", m.Server)
		line("Encryption", m.Encryption)
		line("Username", m.Username)
	}
	line("From", m.From)

	mt := r.Midtrans
	section("Midtrans")
	line("Mode", mt.Mode)
	line("Payment simulator", onOff(mt.Simulator))
	line("Server key", mt.ServerKey)
	line("Client key", mt.ClientKey)
	line("API", mt.APIURL)
	line("Verify notifications", onOff(mt.VerifyStatus))

	section("Schedule")
	for _, t := range r.Schedule {
		v := t.Expression + ", next " + t.NextDue.Format("2006-01-02 15:04 MST")
		if len(t.Flags) > 0 {
			v += " [" + strings.Join(t.Flags, ", ") + "]"
		}
		line(t.Name, v)
	}

	section("Retention")
	for _, s := range r.Retention {
		line(s.Key, s.Value)
	}
	section("Secrets")
	for _, s := range r.Secrets {
		line(s.Key, s.Value)
	}
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
