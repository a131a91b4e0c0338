package cli

import (
	"context"

	"github.com/tripintravel/tripin/internal/store"
)

func init() {
	register(&Command{
		Name: "db seed", Aliases: []string{"db:seed"}, Usage: "",
		Summary: "seed demo tours, an admin and a demo customer",
		Run: func(ctx context.Context, env *Env, args []string) error {
			if _, err := parseFlags(newFlags(env, "db seed"), args); err != nil {
				return err
			}
			db, err := env.OpenDB(ctx)
			if err != nil {
				return err
			}
			return runSeed(ctx, env, db)
		},
	})
}

// runSeed seeds demo data. It is replaced by the booking seeder.
func runSeed(ctx context.Context, env *Env, db *store.DB) error {
	_ = ctx
	_ = env
	_ = db
	return nil
}
