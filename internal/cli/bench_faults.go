package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/tripintravel/tripin/internal/bench"
	"github.com/tripintravel/tripin/internal/faultbench"
	"github.com/tripintravel/tripin/internal/store"
)

// benchFaultsCommands are the commands of this file; root.go lists every file's.
var benchFaultsCommands = []*Command{
	{
		Name: "bench faults", Aliases: []string{"bench:faults"},
		Usage: "--backend sqlite|mysql|pgsql|redis [--dsn DSN] [--redis-url URL] [--long] [--rows ROW,…] [--restart-cmd CMD]\n" +
			"       [--server BINARY] [--keep DIR] [--json]\n" +
			"       --print FILE   (print a matrix saved with --json as a table)",
		Summary: "run the fault matrix: kill, stop, restart, disconnect and block the queue under a real workload; count jobs lost, run twice and failed",
		Run:     runBenchFaults,
	},
}

func runBenchFaults(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench faults")
	var o faultbench.Options
	var rows, dsn, keep string
	fs.StringVar(&o.Backend, "backend", "sqlite", "sqlite, mysql, pgsql or redis (the queue on Redis, the rest on SQLite)")
	fs.StringVar(&dsn, "dsn", "", "for mysql and pgsql, the server (default: TRIPIN_TEST_MYSQL_DSN / TRIPIN_TEST_PGSQL_DSN, else the local default); the bench creates a database of its own there and drops it after")
	fs.StringVar(&o.RedisURL, "redis-url", "", "for redis, the server (default TRIPIN_TEST_REDIS_URL, else "+bench.DefaultRedisURL+"); keys go under a random prefix, deleted after")
	fs.BoolVar(&o.Long, "long", false, "bigger counts and longer faults, and the server restart row (a server the bench starts itself)")
	fs.StringVar(&rows, "rows", "", "run only these rows: "+strings.Join(faultbench.Rows, ","))
	fs.StringVar(&o.RestartCmd, "restart-cmd", "", "restart the configured server with this shell command instead of starting one of the bench's own (never used by default)")
	fs.StringVar(&o.Bin, "server", "", "the tripin binary to run as workers and server (default: this one)")
	fs.StringVar(&keep, "keep", "", "keep the run's files (databases, logs) in this directory")
	asJSON := fs.Bool("json", false, "print the matrix as JSON")
	printFile := fs.String("print", "", "run nothing: print the matrix a --json run saved in this file as a table")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("bench faults: unexpected argument %q", rest[0])
	}
	if *printFile != "" {
		return faultbench.PrintFile(env.Stdout, *printFile)
	}
	switch o.Backend {
	case "mysql":
		o.MySQLDSN = bench.ServerDSN(store.MySQL, dsn)
	case "pgsql":
		o.PgSQLDSN = bench.ServerDSN(store.PgSQL, dsn)
	case "sqlite", "redis":
		if dsn != "" {
			return usagef("bench faults: --dsn is for mysql and pgsql")
		}
	default:
		return usagef("bench faults: --backend must be sqlite, mysql, pgsql or redis")
	}
	if o.Backend == "redis" {
		o.RedisURL = bench.RedisURL(o.RedisURL, os.Getenv("TRIPIN_TEST_REDIS_URL"))
	} else if o.RedisURL != "" {
		return usagef("bench faults: --redis-url is for --backend redis")
	}
	if rows != "" {
		o.Only = strings.Split(rows, ",")
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("bench faults: %w", err)
		}
	}
	o.Dir = keep
	o.Log = env.Stderr
	return faultbench.RunAndPrint(ctx, o, *asJSON, env.Stdout)
}
