package cli

import (
	"context"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/queue"
)

// openApp builds the application for a command (internal/app): on the
// command's database, logger and metrics registry unless o names its own.
// It is closed when the command returns.
func openApp(ctx context.Context, env *Env, o app.Options) (*app.App, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	switch o.Connection {
	case "", "database", "redis", queue.ConnectionSync:
	default:
		return nil, usagef("unknown queue connection %q (want database, redis or sync)", o.Connection)
	}
	if o.Logger == nil {
		if o.Logger, err = env.Logger(false); err != nil {
			return nil, err
		}
	}
	if o.DB == nil {
		if o.DB, err = env.OpenDB(ctx); err != nil {
			return nil, err
		}
	}
	if o.Metrics == nil {
		o.Metrics = env.Metrics(o.Logger)
	}
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	env.onClose(a.Close)
	return a, nil
}

// workerQueues are the queues the worker embedded in `serve` takes, in
// priority order. The notifications queue comes first: its jobs are rare
// and short, and an alert about a backlog must not wait behind it.
var workerQueues = []string{notify.Queue, "default", "emails"}
