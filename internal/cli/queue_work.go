package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/queue"
)

// queueWorkCommands are the commands of this file; root.go lists every file's.
var queueWorkCommands = []*Command{
	{
		Name: "queue work", Aliases: []string{"queue:work"},
		Usage: "[connection] [--queue emails,default] [--concurrency N] [--tries N] [--timeout S] [--backoff 10,30,60]\n" +
			"    [--sleep S] [--max-time S] [--max-jobs N] [--memory MB] [--once] [--stop-when-empty] [--stop-timeout S] [--json] [--quiet]\n" +
			"    [--metrics-addr ADDR]",
		Summary: "work jobs until stopped (SIGTERM/SIGINT finish running jobs first)",
		Run:     runQueueWork,
	},
}

// memoryExitCode is the exit status after --memory is exceeded, as
// Laravel's worker uses, so a supervisor can tell it from a crash.
const memoryExitCode = 12

func runQueueWork(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue work")
	queues := fs.String("queue", "", "queues to work, in strict priority order (default: the default queue)")
	concurrency := fs.Int("concurrency", queue.DefaultConcurrency, "jobs worked at once")
	var tries, maxJobs, memory intFlag
	fs.Var(&tries, "tries", "attempts of jobs that set none (0 = unlimited)")
	var timeout, sleep, maxTime, stopTimeout durationFlag
	fs.Var(&timeout, "timeout", "time limit of jobs that set none, in seconds (0 = none; default 60)")
	backoff := fs.String("backoff", "", "seconds between attempts of jobs that set none: one value or a list (10,30,60)")
	fs.Var(&sleep, "sleep", "longest wait between two looks at an empty queue, in seconds (default 3)")
	fs.Var(&maxTime, "max-time", "stop after this many seconds")
	fs.Var(&maxJobs, "max-jobs", "stop after this many jobs")
	fs.Var(&memory, "memory", "stop (exit 12) when the process uses more than this many MB")
	once := fs.Bool("once", false, "work one job and stop")
	stopWhenEmpty := fs.Bool("stop-when-empty", false, "stop when no job is available")
	fs.Var(&stopTimeout, "stop-timeout", "on SIGTERM, how long running jobs may take to finish, in seconds (default 30)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of text")
	quiet := fs.Bool("quiet", false, "print no line per job")
	metricsAddr := fs.String("metrics-addr", "", "serve this worker's Prometheus metrics at http://ADDR/metrics (no login: keep it firewalled)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("queue work: one connection at most, got %q", strings.Join(pos, " "))
	}
	p := queue.WorkParams{
		Queues:        splitQueues(*queues),
		Concurrency:   *concurrency,
		Once:          *once,
		StopWhenEmpty: *stopWhenEmpty,
		JSON:          *asJSON,
	}
	if *concurrency < 1 {
		return usagef("queue work: --concurrency must be at least 1")
	}
	if tries.set {
		switch {
		case tries.n < 0:
			return usagef("queue work: --tries must be 0 (unlimited) or more")
		case tries.n == 0:
			p.Tries = queue.TriesUnlimited
		default:
			p.Tries = tries.n
		}
	}
	if timeout.set {
		p.Timeout = timeout.d
		if timeout.d == 0 {
			p.Timeout = queue.TimeoutNone
		}
	}
	if *backoff != "" {
		if p.Backoff, err = queue.ParseBackoff(*backoff); err != nil {
			return usagef("queue work: --backoff: %v", err)
		}
	}
	p.Sleep, p.MaxTime, p.StopTimeout = sleep.d, maxTime.d, stopTimeout.d
	if maxJobs.n < 0 || memory.n < 0 {
		return usagef("queue work: --max-jobs and --memory must not be negative")
	}
	p.MaxJobs = maxJobs.n
	p.MemoryLimit = uint64(memory.n) << 20
	if !*quiet {
		p.Output = env.Stdout
	}

	conn := ""
	if len(pos) == 1 {
		conn = pos[0]
	}
	// With --metrics-addr the engine and the metrics server share one
	// logger (and one LOG_FILE handle).
	var logger *slog.Logger
	if *metricsAddr != "" {
		if logger, err = env.Logger(false); err != nil {
			return err
		}
	}
	// The worker runs the jobs that expire Snap transactions at Midtrans.
	if cfg, err := env.Config(); err != nil {
		return err
	} else if err := cfg.RequireMidtrans(); err != nil {
		return err
	}
	a, err := openApp(ctx, env, app.Options{Connection: conn, Logger: logger, Stderr: env.Stderr})
	if err != nil {
		return err
	}
	client := a.Queue
	if client.Connection() == queue.ConnectionSync {
		return errors.New("queue work: the sync connection runs each job when it is dispatched; there is no queue to work")
	}
	qs := p.Queues
	if len(qs) == 0 {
		qs = []string{queue.DefaultQueue}
	}
	if *metricsAddr != "" {
		addr, stop, err := serveWorkerMetrics(a, *metricsAddr, qs)
		if err != nil {
			return err
		}
		defer stop()
		if !*quiet && !*asJSON {
			fmt.Fprintf(env.Stdout, "\n   INFO  Serving metrics on http://%s/metrics.\n", displayHost(addr))
		}
	}
	if !*quiet && !*asJSON {
		fmt.Fprintf(env.Stdout, "\n   INFO  Processing jobs from the [%s] queue.\n\n", strings.Join(qs, ","))
	}
	err = client.Run(ctx, p)
	switch {
	case errors.Is(err, queue.ErrMemoryExceeded):
		return &ExitError{Code: memoryExitCode, Err: err}
	case err != nil:
		return err
	}
	return nil
}

// serveWorkerMetrics serves the worker's /metrics on addr until stop is
// called. It is not tied to the command's context: after SIGTERM the
// worker drains its running jobs, and the metrics of those last jobs
// should still be scraped, so the server stops only once the worker has.
func serveWorkerMetrics(a *app.App, addr string, queues []string) (net.Addr, func(), error) {
	metrics, logger := a.Metrics, a.Logger
	metrics.KeepQueues(queues...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("queue work: --metrics-addr: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	srv := httpapi.NewHTTPServer(mux, logger)
	srvCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := httpapi.Serve(srvCtx, srv, ln, 5*time.Second); err != nil {
			logger.Error("queue work: metrics server stopped", slog.Any("error", err))
		}
	}()
	return ln.Addr(), func() { cancel(); <-done }, nil
}
