package tripinredis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/queue/driver/tripinredis/redistest"
)

// TestCheckServer runs CheckServer against redis-server processes of its
// own, started with the settings under test: a policy that evicts is
// refused, whether read with CONFIG or, where CONFIG is renamed away as
// managed services do, with INFO; a server without persistence, or whose
// settings cannot be read, passes with a warning; a persistent noeviction
// server passes clean.
func TestCheckServer(t *testing.T) {
	noConfig := []string{"--rename-command", "CONFIG", ""}
	noInfo := []string{"--rename-command", "INFO", ""}
	cases := []struct {
		name        string
		args        []string
		policy      string // the refused policy, or "" to pass
		source      string
		persistence string
		warnings    []string // a part of each warning, in order
	}{
		{name: "allkeys-lru", args: []string{"--maxmemory-policy", "allkeys-lru"}, policy: "allkeys-lru"},
		{name: "volatile-ttl", args: []string{"--maxmemory-policy", "volatile-ttl"}, policy: "volatile-ttl"},
		{name: "allkeys-lru read with INFO", args: slices.Concat([]string{"--maxmemory-policy", "allkeys-lru"}, noConfig), policy: "allkeys-lru"},
		{
			name: "no persistence", args: []string{"--maxmemory-policy", "noeviction", "--save", "", "--appendonly", "no"},
			source: "CONFIG", persistence: PersistenceNone, warnings: []string{"neither AOF (appendonly no) nor RDB snapshots"},
		},
		{
			name: "aof", args: []string{"--save", "", "--appendonly", "yes"},
			source: "CONFIG", persistence: PersistenceAOF,
		},
		{
			name: "rdb", args: []string{"--save", "3600 1", "--appendonly", "no"},
			source: "CONFIG", persistence: PersistenceRDB,
		},
		{
			name: "aof read with INFO", args: slices.Concat([]string{"--appendonly", "yes"}, noConfig),
			source: "INFO", persistence: PersistenceAOF,
		},
		{
			name: "no aof read with INFO", args: slices.Concat([]string{"--save", "3600 1", "--appendonly", "no"}, noConfig),
			source: "INFO", persistence: PersistenceUnknown, warnings: []string{"AOF is off and the RDB snapshot settings could not be read"},
		},
		{
			name: "nothing readable", args: slices.Concat([]string{"--maxmemory-policy", "allkeys-lru"}, noConfig, noInfo),
			source: "", persistence: PersistenceUnknown, warnings: []string{"maxmemory-policy and persistence could not be checked"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, tc.args...)
			check, err := CheckServer(context.Background(), srv.Client())
			if tc.policy != "" {
				var pe *PolicyError
				if !errors.As(err, &pe) || pe.Policy != tc.policy {
					t.Fatalf("check = %+v, %v; want the refusal of %s", check, err, tc.policy)
				}
				want := "redis: maxmemory-policy is " + tc.policy + "; the queue needs noeviction, or jobs are evicted silently: " +
					"run CONFIG SET maxmemory-policy noeviction, and set it in redis.conf"
				if err.Error() != want {
					t.Fatalf("refusal = %q, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if check.Source != tc.source || check.Persistence != tc.persistence {
				t.Fatalf("check = %+v, want source %q and persistence %q", check, tc.source, tc.persistence)
			}
			if tc.source != "" && check.Policy != "noeviction" {
				t.Fatalf("policy = %q, want noeviction (Redis's default)", check.Policy)
			}
			if len(check.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings = %q, want %d", check.Warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(check.Warnings[i], w) || strings.Contains(check.Warnings[i], "\n") {
					t.Fatalf("warning %d = %q, want one line with %q", i, check.Warnings[i], w)
				}
			}
		})
	}
}
