package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
)

// seedCommands are the commands of this file; root.go lists every file's.
var seedCommands = []*Command{
	{
		Name: "db seed", Aliases: []string{"db:seed"}, Usage: "",
		Summary: "seed demo tours, and with APP_ENV=local a demo admin and customer",
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
	},
}

// The demo accounts the seeder creates and serve prints in local mode.
const (
	demoAdminEmail    = "admin@tripin.test"
	demoCustomerEmail = "demo@tripin.test"
	demoPassword      = "password"
)

// demoTour is one seeded tour; its departure is days after the seeding day.
type demoTour struct {
	title, destination, description string
	days                            int
	price                           int64
	capacity                        int
}

var demoTours = []demoTour{
	{"Bali: Ubud Rice Terraces & Temples", "Bali", "Four days in Ubud: Tegallalang terraces, Tirta Empul, a Kecak dance at Uluwatu.", 14, 4_500_000, 20},
	{"Nusa Penida Island Hopping", "Bali", "Kelingking Beach, Broken Beach and snorkelling with manta rays.", 21, 1_750_000, 16},
	{"Lombok & the Gili Islands", "Lombok", "Sasak villages, Pink Beach and three days on Gili Trawangan.", 28, 5_250_000, 18},
	{"Labuan Bajo: Komodo Sailing Trip", "Labuan Bajo", "Three nights on a phinisi: Komodo dragons, Padar Island and Pink Beach.", 35, 9_800_000, 12},
	{"Raja Ampat Diving Expedition", "Raja Ampat", "Six days of reef diving around Waigeo and Misool.", 45, 18_500_000, 10},
	{"Mount Bromo Sunrise", "Bromo", "Midnight jeep to Penanjakan, sunrise over the caldera, Ijen blue fire.", 10, 2_350_000, 24},
	{"Yogyakarta: Borobudur & Prambanan", "Yogyakarta", "Sunrise at Borobudur, Prambanan at dusk, batik and the Kraton.", 17, 3_150_000, 30},
	{"Lake Toba & Samosir Culture", "Lake Toba", "Batak villages, hot springs and a crater lake the size of Singapore.", 52, 3_900_000, 20},
	{"Tana Toraja Highlands", "Tana Toraja", "Tongkonan houses, cliff graves and highland coffee.", 60, 6_400_000, 14},
	{"Belitung Island Escape", "Belitung", "Granite boulder beaches and island hopping in the Java Sea.", 24, 2_900_000, 22},
}

// runSeed seeds the demo data the environment allows (see seedDemo) and
// says what it did. It is idempotent: accounts are matched by email and
// tours by title.
func runSeed(ctx context.Context, env *Env, db *store.DB) error {
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	if cfg.IsProduction() {
		return errors.New("db seed: refusing with APP_ENV=production: demo tours would be sold and demo accounts have a known password; create the first admin with 'tripin user create --admin'")
	}
	n, err := seedDemo(ctx, cfg, db)
	if err != nil {
		return fmt.Errorf("db seed: %w", err)
	}
	if cfg.AppEnv == "local" {
		fmt.Fprintf(env.Stdout, "Seeded %d record(s) (demo accounts %s and %s).\n", n, demoAdminEmail, demoCustomerEmail)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Seeded %d demo tour(s); demo accounts are created only with APP_ENV=local (create an admin with 'tripin user create --admin').\n", n)
	return nil
}

// seedDemo creates the demo tours and, in local mode only, the demo admin
// and the demo customer, whose password everyone knows.
func seedDemo(ctx context.Context, cfg *config.Config, db *store.DB) (int, error) {
	created := 0
	if cfg.AppEnv == "local" {
		accounts := booking.NewAccounts(booking.AccountsParams{Store: db})
		for _, u := range []booking.NewUser{
			{Name: "Tripin Admin", Email: demoAdminEmail, Password: demoPassword, IsAdmin: true},
			{Name: "Demo Customer", Email: demoCustomerEmail, Password: demoPassword},
		} {
			_, err := db.UserGetByEmail(ctx, u.Email)
			if err == nil {
				continue
			}
			if !apperr.IsNotFound(err) {
				return created, err
			}
			if _, err := accounts.CreateUser(ctx, u); err != nil {
				return created, err
			}
			created++
		}
	}
	svc := newBookingService(cfg, db)
	today := time.Now().In(cfg.AppTimezone)
	for _, t := range demoTours {
		exists, err := db.TourExistsByTitle(ctx, t.title)
		if err != nil {
			return created, err
		}
		if exists {
			continue
		}
		date := today.AddDate(0, 0, t.days).Format(booking.DateLayout)
		_, err = svc.CreateTour(ctx, booking.TourChanges{
			Title: &t.title, Destination: &t.destination, Description: &t.description,
			DepartureDate: &date, Price: &t.price, Capacity: &t.capacity,
		})
		if err != nil {
			return created, err
		}
		created++
	}
	return created, nil
}

// checkDemoAccounts refuses to serve outside local mode while a demo
// account still has the demo password (a database seeded before demo
// accounts became local-only, or copied from a laptop): anyone could log
// in as its admin.
func checkDemoAccounts(ctx context.Context, cfg *config.Config, db *store.DB) error {
	if cfg.AppEnv == "local" {
		return nil
	}
	for _, email := range []string{demoAdminEmail, demoCustomerEmail} {
		u, err := db.UserGetByEmail(ctx, email)
		if apperr.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(demoPassword)) == nil {
			return fmt.Errorf("serve: the demo account %s still has the demo password %q and APP_ENV=%s; set a new one with 'tripin user password --email %s'", email, demoPassword, cfg.AppEnv, email)
		}
	}
	return nil
}

// newBookingService builds the booking service from the configuration,
// without hooks.
func newBookingService(cfg *config.Config, db *store.DB) *booking.Service {
	return booking.NewService(booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(), MaxQuantity: cfg.BookingMaxQuantity,
	})
}
