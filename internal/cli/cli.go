// Package cli implements the tripin command line on cobra. Each command
// lives in its own file, and root.go lists them all; commands return errors, and
// Main turns them into an exit code and one clear line on stderr (2 for a
// usage error).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/telemetry"
)

// Command is one tripin subcommand.
type Command struct {
	// Name is the Go-style spelling, words separated by one space
	// ("queue work").
	Name string
	// Aliases are other accepted spellings, such as Laravel's "queue:work".
	Aliases []string
	// Usage is the argument synopsis shown by help ("[connection]").
	Usage string
	// Summary is one line for the command list.
	Summary string
	// Long is the description help prints above the usage; Summary when
	// empty.
	Long string
	// Example is one to three command lines, each after a "# what it
	// does" comment line, indented by two spaces.
	Example string
	// Run executes the command. ctx is cancelled on SIGINT or SIGTERM;
	// SIGHUP reopens LOG_FILE. Run declares its flags with newFlags and
	// parses them with parseFlags before it does anything else: the help
	// and the shell completion read the flags by running it up to there
	// (describeFlags).
	Run func(ctx context.Context, env *Env, args []string) error
}

// ExitError carries a specific exit code. Its message, when not empty, is
// printed like any other error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks an error as a usage error (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usage error; Main exits 2 for it.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Main runs the command named by args and returns the process exit code.
func Main(args []string) int {
	tuneGC()
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, EnvFile: ".env"}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reopens LOG_FILE, for logrotate (logfile.go).
	stopHangups := reopenLogsOnHangup(env)
	err := Run(ctx, env, args)
	stopHangups()
	env.closeAll()
	return exitCode(env.Stderr, err)
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "tripin: "+oneLine(ee.Err.Error()))
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "tripin: "+oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Run finds the command in args and runs it with env. It is Main without
// the process around it, for tests.
func Run(ctx context.Context, env *Env, args []string) error {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	_, err := root.ExecuteContextC(ctx)
	return err
}

// newFlags returns the flag set of the command c, which reports errors
// instead of exiting; help prints the flags, so the set itself prints
// nothing.
func newFlags(env *Env, c string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	if env.describing {
		env.described = fs
	}
	return fs
}

// parseFlags parses args; positional arguments may come before, between
// and after the flags, and everything after "--" is positional.
func parseFlags(fs *pflag.FlagSet, args []string) ([]string, error) {
	if slices.Contains(args, describeArg) {
		return nil, errDescribed
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, errHelp
		}
		return nil, usagef("%s: %v", fs.Name(), err)
	}
	return fs.Args(), nil
}

// Env is what commands share: output streams, the configuration (loaded
// once, on first use) and resources to close at exit.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// Stdin is where commands read input (a password with
	// --password-stdin); nil means os.Stdin.
	Stdin   io.Reader
	EnvFile string
	// Cfg, when set before Run, is used instead of loading .env and the
	// environment (tests set it).
	Cfg *config.Config

	closers []func()
	db      *store.DB

	// mu guards metrics, built on first use.
	mu      sync.Mutex
	metrics *telemetry.Metrics

	// logMu guards logFile, the command's LOG_FILE (logfile.go). It is not
	// mu: loggers are built while mu is held.
	logMu   sync.Mutex
	logFile *logFile

	// describing is set while describeFlags runs a command up to its
	// flags; described is the flag set it declared.
	describing bool
	described  *pflag.FlagSet
}

// stdin returns the command's standard input.
func (e *Env) stdin() io.Reader {
	if e.Stdin == nil {
		return os.Stdin
	}
	return e.Stdin
}

// Metrics returns the command's Prometheus metrics, created on first use:
// one registry per command, which is one per process outside tests,
// shared by the worker that feeds it and the /metrics handler that serves
// it. Tests run several commands in one process, each with its own Env,
// so the registry is never the global one.
func (e *Env) Metrics(logger *slog.Logger) *telemetry.Metrics {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.metrics == nil {
		e.metrics = telemetry.New(telemetry.Options{Logger: logger})
	}
	return e.metrics
}

// Config loads the configuration on first use.
func (e *Env) Config() (*config.Config, error) {
	e.mustNotDescribe()
	if e.Cfg != nil {
		return e.Cfg, nil
	}
	cfg, err := config.Load(e.EnvFile)
	if err != nil {
		return nil, err
	}
	// Local mode without APP_KEY signs its links with a key kept in
	// storage/, generated on first start, so links survive a restart.
	created, err := config.LoadLocalAppKey(cfg, config.LocalAppKeyFile)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(e.Stderr, "Generated an application key into %s (APP_ENV=local); set APP_KEY to use your own.\n", config.LocalAppKeyFile)
	}
	// Once per process: the configuration is loaded once.
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(e.Stderr, "tripin: warning: config: "+w)
	}
	e.Cfg = cfg
	return cfg, nil
}

// onClose registers fn to run when the command returns.
func (e *Env) onClose(fn func()) { e.closers = append(e.closers, fn) }

func (e *Env) closeAll() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// OpenDB opens the configured database (without migrating it) on first use
// and returns the same handle afterwards, so that every part of a command
// shares one pool (on SQLite: one writer connection); it is closed when the
// command returns.
func (e *Env) OpenDB(ctx context.Context) (*store.DB, error) {
	e.mustNotDescribe()
	if e.db != nil {
		return e.db, nil
	}
	cfg, err := e.Config()
	if err != nil {
		return nil, err
	}
	d, dsn := app.DSN(cfg)
	db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
	if err != nil {
		return nil, err
	}
	e.onClose(func() { db.Close(); e.db = nil })
	e.db = db
	return db, nil
}

// Logger returns a logger writing JSON lines to LOG_FILE and, when
// toStdout, text lines to stdout. Secret configuration values are scrubbed
// from every record.
func (e *Env) Logger(toStdout bool) (*slog.Logger, error) {
	cfg, err := e.Config()
	if err != nil {
		return nil, err
	}
	return newLogger(e, cfg, toStdout)
}
