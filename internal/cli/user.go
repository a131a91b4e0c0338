package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

func init() {
	register(&Command{
		Name: "user create", Aliases: []string{"user:create"},
		Usage:   "--name NAME --email EMAIL --password PASSWORD [--admin]",
		Summary: "create a user (an admin with --admin)",
		Run:     runUserCreate,
	})
}

func runUserCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "user create")
	name := fs.String("name", "", "the user's name")
	email := fs.String("email", "", "the login email")
	password := fs.String("password", "", "the password (at least 8 characters)")
	admin := fs.Bool("admin", false, "make the user an administrator")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("user create: unexpected argument %q", rest[0])
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db})
	u, err := accounts.CreateUser(ctx, booking.NewUser{Name: *name, Email: *email, Password: *password, IsAdmin: *admin})
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
