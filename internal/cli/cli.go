// Package cli implements the tripin command line. Each command lives in its
// own file and registers itself; commands return errors, and Main turns them
// into an exit code and one clear line on stderr.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

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
	// Usage is the argument synopsis shown by help ("[--queue Q] [--json]").
	Usage string
	// Summary is one line for the command list.
	Summary string
	// Run executes the command. ctx is cancelled on SIGINT or SIGTERM;
	// SIGHUP reopens LOG_FILE.
	Run func(ctx context.Context, env *Env, args []string) error
}

var commands = map[string]*Command{}

// register adds a command under its name and aliases. It is called from the
// init functions of the command files.
func register(c *Command) {
	for _, n := range append([]string{c.Name}, c.Aliases...) {
		if _, dup := commands[n]; dup {
			panic("cli: duplicate command " + n)
		}
		commands[n] = c
	}
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

// errUsage marks an error as a usage error (exit code 2).
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
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
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
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, _ := lookup(args[1:]); c != nil {
				fmt.Fprintf(env.Stdout, "usage: tripin %s %s\n\n%s\n", c.Name, c.Usage, c.Summary)
				return nil
			}
		}
		printHelp(env.Stdout)
		return nil
	}
	c, rest := lookup(args)
	if c == nil {
		return usagef("unknown command %q; run 'tripin help' for the list", strings.Join(args[:min(2, len(args))], " "))
	}
	return c.Run(ctx, env, rest)
}

// lookup matches the longest command name at the front of args: two words
// ("queue work"), one word ("serve"), or a colon alias ("queue:work").
func lookup(args []string) (*Command, []string) {
	if len(args) >= 2 && !strings.HasPrefix(args[1], "-") {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:]
		}
	}
	if c, ok := commands[args[0]]; ok {
		return c, args[1:]
	}
	return nil, nil
}

func printHelp(w io.Writer) {
	seen := map[*Command]bool{}
	var list []*Command
	for _, c := range commands {
		if !seen[c] {
			seen[c] = true
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	fmt.Fprintln(w, "tripin: tour bookings, payments and a durable job queue in one binary.")
	fmt.Fprintln(w, "\nusage: tripin <command> [arguments]\n\ncommands:")
	for _, c := range list {
		fmt.Fprintf(w, "  %-22s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintln(w, "\nLaravel spellings (queue:work, schedule:list, …) are accepted too.")
	fmt.Fprintln(w, "Run 'tripin help <command>' for a command's arguments.")
}

// newFlags returns a FlagSet for a command that reports errors instead of
// exiting, with its usage written to env's stderr.
func newFlags(env *Env, c string) *flag.FlagSet {
	fs := flag.NewFlagSet(c, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parseFlags parses args, allowing positional arguments before and between
// flags (Go's flag package stops at the first positional one).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
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
