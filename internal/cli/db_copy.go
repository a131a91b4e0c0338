package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/dbcopy"
	"github.com/tripintravel/tripin/internal/store"
)

// dbCopyCommands are the commands of this file; root.go lists every file's.
var dbCopyCommands = []*Command{
	{
		Name: "db copy", Aliases: []string{"db:copy"},
		Usage:   "--to DSN [--from DSN] [--force] [--dry-run] [--verify-only] [--batch N] [--json]",
		Summary: "copy every table to another database (e.g. SQLite to MySQL) and verify the copy",
		Run:     runDBCopy,
	},
}

func runDBCopy(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "db copy")
	from := fs.String("from", "", "source DSN (default: the configured database)")
	to := fs.String("to", "", "target DSN: a SQLite path, mysql://…, a go-sql-driver DSN or postgres://…")
	force := fs.Bool("force", false, "delete the target's rows first when it is not empty")
	dryRun := fs.Bool("dry-run", false, "only count rows on both sides; write nothing")
	verifyOnly := fs.Bool("verify-only", false, "compare both sides without copying")
	batch := fs.Int("batch", 500, "rows per INSERT")
	asJSON := fs.Bool("json", false, "print JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("db copy: unexpected argument %q; usage: tripin db copy --to DSN [--from DSN]", rest[0])
	}
	if *to == "" {
		return usagef("db copy: --to is required (a SQLite path, mysql://…, a go-sql-driver DSN or postgres://…)")
	}
	if *batch < 1 {
		return usagef("db copy: --batch must be at least 1")
	}
	if *dryRun && *verifyOnly {
		return usagef("db copy: --dry-run and --verify-only do not go together")
	}
	srcDSN := *from
	var srcDialect store.Dialect
	if srcDSN == "" {
		// Without --from the source is the database this installation
		// runs on, which is what moving to a server usually means.
		cfg, err := env.Config()
		if err != nil {
			return err
		}
		srcDialect, srcDSN = app.DSN(cfg)
	} else if srcDialect, srcDSN, err = dbcopy.DialectOfDSN(srcDSN); err != nil {
		return usagef("db copy: --from: %v", err)
	}
	dstDialect, dstDSN, err := dbcopy.DialectOfDSN(*to)
	if err != nil {
		return usagef("db copy: --to: %v", err)
	}

	src, err := openCopyDB(ctx, "--from", srcDialect, srcDSN, true)
	if err != nil {
		return err
	}
	defer src.Close()
	// A dry run leaves no trace: a SQLite target that does not exist yet
	// is removed again after it was opened to be counted.
	if dstDialect == store.SQLite && (*dryRun || *verifyOnly) {
		path := dbcopy.SQLitePath(dstDSN)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if *verifyOnly {
				return fmt.Errorf("db copy: --to: no SQLite database at %s", path)
			}
			defer func() {
				for _, suffix := range []string{"", "-wal", "-shm"} {
					_ = os.Remove(path + suffix)
				}
			}()
		}
	}
	dst, err := openCopyDB(ctx, "--to", dstDialect, dstDSN, false)
	if err != nil {
		return err
	}
	defer dst.Close()

	var res *dbcopy.Result
	if *verifyOnly {
		res, err = dbcopy.Verify(ctx, src, dst)
	} else {
		// Each table's rows, rate and time left on stderr as it copies.
		m := env.meter(*asJSON)
		res, err = dbcopy.Copy(ctx, dbcopy.Params{From: src, To: dst, Force: *force, DryRun: *dryRun, BatchRows: *batch,
			Progress: func(tp dbcopy.TableProgress) {
				switch {
				case tp.Done:
					m.Finish(tp.Rows)
				case tp.Rows == 0:
					m.Start(tp.Table, tp.Total)
				default:
					m.Set(tp.Rows)
				}
			}})
		if err != nil {
			m.Abort()
		}
	}
	if res != nil && (err == nil || *dryRun) {
		if perr := printCopyResult(env.Stdout, res, *asJSON, *verifyOnly); perr != nil {
			return perr
		}
	}
	if err != nil {
		return fmt.Errorf("db copy: %w", err)
	}
	if !*dryRun && !res.Verified {
		return &ExitError{Code: 1, Err: fmt.Errorf("db copy: verification failed for %s", strings.Join(res.Mismatched(), ", "))}
	}
	return nil
}

// openCopyDB opens one side of a copy. A SQLite source must exist: opening
// a missing file would create an empty database and report it as
// "behind" instead of naming the typo.
func openCopyDB(ctx context.Context, flagName string, d store.Dialect, dsn string, mustExist bool) (*store.DB, error) {
	if d == store.SQLite && mustExist {
		path := dbcopy.SQLitePath(dsn)
		if path != ":memory:" {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("db copy: %s: no SQLite database at %s", flagName, path)
			}
		}
	}
	db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
	if err != nil {
		return nil, fmt.Errorf("db copy: %s: %w", flagName, err)
	}
	return db, nil
}

func printCopyResult(w io.Writer, res *dbcopy.Result, asJSON, verifyOnly bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	if res.DryRun {
		fmt.Fprintf(w, "Dry run from %s to %s: nothing was written.\n", res.From, res.To)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tSOURCE ROWS\tTARGET ROWS")
		for _, t := range res.Tables {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Table, t.SourceRows, t.TargetRows)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(res.Migrated) > 0 {
			fmt.Fprintf(w, "The target would be migrated first: %s.\n", strings.Join(res.Migrated, ", "))
		}
		if res.DeletedRows > 0 {
			fmt.Fprintf(w, "The target holds %d row(s); a copy needs --force, which deletes them first.\n", res.DeletedRows)
		}
		fmt.Fprintf(w, "%d row(s) would be copied.\n", res.Rows)
		return nil
	}
	if len(res.Migrated) > 0 {
		fmt.Fprintf(w, "Migrated the target: %s.\n", strings.Join(res.Migrated, ", "))
	}
	if res.DeletedRows > 0 {
		fmt.Fprintf(w, "Deleted %d row(s) the target held (--force).\n", res.DeletedRows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS\tVERIFIED")
	for _, t := range res.Tables {
		status := "yes"
		switch {
		case t.TargetRows != t.SourceRows:
			status = fmt.Sprintf("NO: %d row(s) in the target", t.TargetRows)
		case !t.Verified:
			status = "NO: checksums differ"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", t.Table, t.SourceRows, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	took := (time.Duration(res.DurationMS) * time.Millisecond).Round(time.Millisecond)
	verb := "Copied"
	if verifyOnly {
		verb = "Compared"
	}
	if res.Verified {
		fmt.Fprintf(w, "%s %d row(s) from %s to %s in %s; every table verified.\n", verb, res.Rows, res.From, res.To, took)
	} else {
		fmt.Fprintf(w, "%s %d row(s) from %s to %s in %s; %d table(s) differ.\n", verb, res.Rows, res.From, res.To, took, len(res.Mismatched()))
	}
	return nil
}
