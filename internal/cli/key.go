package cli

import (
	"context"
	"fmt"

	"github.com/tripintravel/tripin/internal/config"
)

// keyCommands are the commands of this file; root.go lists every file's.
var keyCommands = []*Command{
	{
		Name: "key generate", Aliases: []string{"key:generate"},
		Usage:   "",
		Summary: "print a new APP_KEY (base64: and 32 random bytes) to put in .env",
		Run:     runKeyGenerate,
	},
}

// runKeyGenerate prints a new application key. Unlike Laravel's, it does
// not edit .env: an operator puts the key where the deployment keeps its
// secrets.
func runKeyGenerate(_ context.Context, env *Env, args []string) error {
	fs := newFlags(env, "key generate")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("key generate: unexpected argument %q", rest[0])
	}
	k, err := config.NewAppKey()
	if err != nil {
		return fmt.Errorf("key generate: %w", err)
	}
	fmt.Fprintln(env.Stdout, k)
	return nil
}
