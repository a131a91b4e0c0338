package doctor

import (
	"context"
	"fmt"
)

// configWarner is the configuration's capability to report settings that
// load but look wrong (an unknown key close to a known one).
type configWarner interface{ Warnings() []string }

// checkConfig reports the errors of loading the configuration, its
// warnings, and settings that load but are unsafe for the environment.
func checkConfig(_ context.Context, p *Params) Result {
	var lines []string
	lines = append(lines, p.ConfigErrors...)
	cfg := p.Config
	if cfg == nil {
		if len(lines) == 0 {
			lines = append(lines, "no configuration")
		}
		return problems(lines...)
	}
	if w, ok := any(cfg).(configWarner); ok {
		lines = append(lines, w.Warnings()...)
	}
	if cfg.IsProduction() && cfg.AppDebug {
		lines = append(lines, "APP_DEBUG=true in production: errors show internal details to customers; set APP_DEBUG=false")
	}
	if cfg.AppEnv != "local" && cfg.QueueConnection == "sync" {
		lines = append(lines, fmt.Sprintf("QUEUE_CONNECTION=sync in %s: every job runs inside the request that dispatches it, and a failure is not retried; use database or redis", cfg.AppEnv))
	}
	if len(lines) > 0 {
		return problems(lines...)
	}
	return ok("APP_ENV=%s, DB_CONNECTION=%s, QUEUE_CONNECTION=%s, MAIL_MAILER=%s", cfg.AppEnv, cfg.DBConnection, cfg.QueueConnection, cfg.MailMailer)
}
