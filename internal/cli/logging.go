package cli

import (
	"context"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/tripintravel/tripin/internal/config"
)

// newLogger builds the command's logger: JSON lines to LOG_FILE (one file
// handle per command, shared by every logger of it and reopened on
// SIGHUP, see logfile.go) and, when toStdout, lines to stdout in
// LOG_FORMAT (stdoutJSON). Both take LOG_LEVEL, which each process reads
// from its own environment.
func newLogger(e *Env, cfg *config.Config, toStdout bool) (*slog.Logger, error) {
	level := logLevel(cfg.LogLevel)
	var handlers []slog.Handler
	if cfg.LogFile != "" {
		f, err := e.sharedLogFile(cfg.LogFile)
		if err != nil {
			return nil, err
		}
		handlers = append(handlers, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level}))
	}
	if toStdout {
		if stdoutJSON(cfg.LogFormat, e.Stdout) {
			handlers = append(handlers, slog.NewJSONHandler(e.Stdout, &slog.HandlerOptions{Level: level}))
		} else {
			handlers = append(handlers, slog.NewTextHandler(e.Stdout, &slog.HandlerOptions{Level: level}))
		}
	}
	if len(handlers) == 0 {
		handlers = append(handlers, slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(&scrubHandler{handlers: handlers, secrets: cfg.Secrets()}), nil
}

// logLevel maps LOG_LEVEL to a slog level; anything unknown is info
// (config has refused it already).
func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// stdoutJSON reports whether log lines on w are JSON: LOG_FORMAT=json or
// text decides; auto (the default) writes JSON unless w is a terminal, so
// journald, containers and log shippers get structure and a person at a
// terminal gets text.
func stdoutJSON(format string, w io.Writer) bool {
	switch format {
	case "json":
		return true
	case "text":
		return false
	}
	return !isTerminal(w)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// scrubHandler fans records out to several handlers, replacing any secret
// configuration value that appears in a message or string attribute.
type scrubHandler struct {
	handlers []slog.Handler
	secrets  []string
}

func (h *scrubHandler) Enabled(ctx context.Context, l slog.Level) bool {
	for _, x := range h.handlers {
		if x.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (h *scrubHandler) scrub(s string) string { return config.Scrub(s, h.secrets) }

func (h *scrubHandler) scrubAttr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.scrub(a.Value.String()))
	case slog.KindGroup:
		attrs := a.Value.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.scrubAttr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, h.scrub(err.Error()))
		}
	}
	return a
}

func (h *scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.secrets) > 0 {
		nr := slog.NewRecord(r.Time, r.Level, h.scrub(r.Message), r.PC)
		r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(h.scrubAttr(a)); return true })
		r = nr
	}
	for _, x := range h.handlers {
		if x.Enabled(ctx, r.Level) {
			if err := x.Handle(ctx, r.Clone()); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		scrubbed[i] = h.scrubAttr(a)
	}
	out := &scrubHandler{secrets: h.secrets}
	for _, x := range h.handlers {
		out.handlers = append(out.handlers, x.WithAttrs(scrubbed))
	}
	return out
}

func (h *scrubHandler) WithGroup(name string) slog.Handler {
	out := &scrubHandler{secrets: h.secrets}
	for _, x := range h.handlers {
		out.handlers = append(out.handlers, x.WithGroup(name))
	}
	return out
}
