package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	flag "github.com/spf13/pflag"

	"golang.org/x/term"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

// userCommands are the commands of this file; root.go lists every file's.
var userCommands = []*Command{
	{
		Name: "user create", Aliases: []string{"user:create"},
		Usage:   "--name NAME --email EMAIL [--admin] [--password-stdin]",
		Summary: "create a user (an admin with --admin); the password is prompted for, or read from stdin or " + passwordEnv,
		Run:     runUserCreate,
	},
	{
		Name: "user password", Aliases: []string{"user:password"},
		Usage:   "--email EMAIL [--password-stdin]",
		Summary: "set a user's password and revoke every token of the user (log out everywhere)",
		Run:     runUserPassword,
	},
}

// passwordEnv is the environment variable a password may come from, for
// provisioning tools that pass secrets that way.
const passwordEnv = "TRIPIN_PASSWORD"

// passwordFlags are the ways a command takes a password.
type passwordFlags struct {
	stdin *bool
	flag  *string
}

func addPasswordFlags(fs *flag.FlagSet) passwordFlags {
	return passwordFlags{
		stdin: fs.Bool("password-stdin", false, "read the password from the first line of standard input"),
		flag:  fs.String("password", "", "the password (visible in ps and shell history: prefer the prompt, --password-stdin or "+passwordEnv+")"),
	}
}

// read returns the password: from the first line of standard input with
// --password-stdin, else from TRIPIN_PASSWORD, else from --password (with
// a warning), else from a prompt that does not echo, asked twice, when
// standard input is a terminal.
func (pf passwordFlags) read(env *Env, cmd string) (string, error) {
	given := 0
	for _, set := range []bool{*pf.stdin, *pf.flag != ""} {
		if set {
			given++
		}
	}
	if given > 1 {
		return "", usagef("%s: give the password one way: --password-stdin or --password", cmd)
	}
	switch {
	case *pf.stdin:
		line, err := bufio.NewReader(io.LimitReader(env.stdin(), 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%s: read the password from standard input: %w", cmd, err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", fmt.Errorf("%s: --password-stdin: standard input holds no password", cmd)
		}
		return pw, nil
	case *pf.flag != "":
		fmt.Fprintf(env.Stderr, "warning: --password shows the password in ps and the shell history; prefer the prompt, --password-stdin or %s\n", passwordEnv)
		return *pf.flag, nil
	}
	if pw, ok := os.LookupEnv(passwordEnv); ok && pw != "" {
		return pw, nil
	}
	f, ok := env.stdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("%s: no password given: run it in a terminal to be asked, or use --password-stdin or %s", cmd, passwordEnv)
	}
	fmt.Fprint(env.Stderr, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return "", fmt.Errorf("%s: read the password: %w", cmd, err)
	}
	fmt.Fprint(env.Stderr, "Password (again): ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return "", fmt.Errorf("%s: read the password: %w", cmd, err)
	}
	if string(pw) != string(again) {
		return "", fmt.Errorf("%s: the two passwords do not match", cmd)
	}
	return string(pw), nil
}

func runUserCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "user create")
	name := fs.String("name", "", "the user's name")
	email := fs.String("email", "", "the login email")
	admin := fs.Bool("admin", false, "make the user an administrator")
	pf := addPasswordFlags(fs)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("user create: unexpected argument %q", rest[0])
	}
	// The other fields are checked before the password is asked for.
	if err := booking.ValidateNewUser(booking.NewUser{Name: *name, Email: *email, Password: strings.Repeat("x", booking.MinPasswordLen)}); err != nil {
		return fmt.Errorf("user create: %s", describeAppErr(err))
	}
	password, err := pf.read(env, "user create")
	if err != nil {
		return err
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db})
	u, err := accounts.CreateUser(ctx, booking.NewUser{Name: *name, Email: *email, Password: password, IsAdmin: *admin})
	if err != nil {
		return fmt.Errorf("user create: %s", describeAppErr(err))
	}
	role := "customer"
	if u.IsAdmin {
		role = "admin"
	}
	fmt.Fprintf(env.Stdout, "Created %s #%d %s <%s>.\n", role, u.ID, u.Name, u.Email)
	return nil
}

func runUserPassword(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "user password")
	email := fs.String("email", "", "the login email of the user")
	pf := addPasswordFlags(fs)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("user password: unexpected argument %q", rest[0])
	}
	if *email == "" {
		return usagef("user password: --email is required")
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	u, err := db.UserGetByEmail(ctx, booking.NormalizeEmail(*email))
	if err != nil {
		if apperr.IsNotFound(err) {
			return fmt.Errorf("user password: no user has the email %s", booking.NormalizeEmail(*email))
		}
		return err
	}
	password, err := pf.read(env, "user password")
	if err != nil {
		return err
	}
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db})
	if err := accounts.SetPassword(ctx, u.ID, password); err != nil {
		return fmt.Errorf("user password: %s", describeAppErr(err))
	}
	fmt.Fprintf(env.Stdout, "Set the password of #%d <%s> and logged it out everywhere.\n", u.ID, u.Email)
	return nil
}

// describeAppErr renders a validation error's fields on one line, flag
// names first, for the terminal.
func describeAppErr(err error) string {
	var ae *apperr.Error
	if !errors.As(err, &ae) || len(ae.Fields) == 0 {
		return err.Error()
	}
	keys := make([]string, 0, len(ae.Fields))
	for k := range ae.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = "--" + k + ": " + ae.Fields[k]
	}
	return strings.Join(parts, "; ")
}
