package tripinredis

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Redis server's settings the queue depends on.
//
// maxmemory-policy must be noeviction. Any other policy lets Redis delete
// keys when it runs out of memory: a job's hash, the sorted set entry that
// queues it, a unique key, or the marker that stops an outbox row from
// being pushed twice. The volatile-* policies are no safer, since unique
// keys and markers carry a TTL. With noeviction a full Redis refuses new
// jobs with an error instead, which the caller sees (an outbox row then
// waits in SQL).
//
// Persistence (AOF or RDB snapshots) decides what a restart of Redis
// loses; without it, every job held in Redis goes (see README, "Redis
// queue"). That is the operator's choice to make knowingly, so it is a
// warning, not a refusal.
//
// Managed services often refuse CONFIG; INFO then tells the policy and
// whether AOF is on, but not the RDB save points. What cannot be read is
// a warning too, never a refusal.

// PolicyError is CheckServer's refusal of a Redis whose maxmemory-policy
// is not noeviction.
type PolicyError struct {
	// Policy is the server's maxmemory-policy.
	Policy string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("redis: maxmemory-policy is %s; the queue needs noeviction, or jobs are evicted silently: "+
		"run CONFIG SET maxmemory-policy noeviction, and set it in redis.conf", e.Policy)
}

// Persistence values of ServerCheck.
const (
	PersistenceAOF     = "aof"
	PersistenceRDB     = "rdb"
	PersistenceBoth    = "aof+rdb"
	PersistenceNone    = "none"
	PersistenceUnknown = "unknown"
)

// ServerCheck is what CheckServer found.
type ServerCheck struct {
	// Policy is the maxmemory-policy, or "" when it could not be read.
	Policy string
	// Persistence is one of the Persistence constants.
	Persistence string
	// Source says where the settings were read: "CONFIG", "INFO" or
	// "" when neither answered.
	Source string
	// Warnings are one line each, for the log and the operator's terminal.
	Warnings []string
}

// CheckServer reads the settings of the Redis behind rdb that the queue
// depends on. It returns a *PolicyError when maxmemory-policy is not
// noeviction, and otherwise the check, whose Warnings say when the server
// keeps no persistence or when a setting could not be read. It reads with
// CONFIG GET, and with INFO where CONFIG is refused.
func CheckServer(ctx context.Context, rdb redis.UniversalClient) (*ServerCheck, error) {
	c := &ServerCheck{Persistence: PersistenceUnknown}
	cfg, cfgErr := configGet(ctx, rdb, "maxmemory-policy", "appendonly", "save")
	var info map[string]string
	var infoErr error
	if cfgErr != nil {
		info, infoErr = infoGet(ctx, rdb)
	}
	switch {
	case cfgErr == nil:
		c.Source = "CONFIG"
		c.Policy = cfg["maxmemory-policy"]
		c.Persistence = persistence(cfg["appendonly"] == "yes", strings.TrimSpace(cfg["save"]) != "")
	case infoErr == nil:
		c.Source = "INFO"
		c.Policy = info["maxmemory_policy"]
		if info["aof_enabled"] == "1" {
			c.Persistence = PersistenceAOF
		}
	}
	if c.Policy != "" && c.Policy != "noeviction" {
		return nil, &PolicyError{Policy: c.Policy}
	}
	switch {
	case c.Source == "":
		c.Warnings = append(c.Warnings, fmt.Sprintf("redis: maxmemory-policy and persistence could not be checked "+
			"(CONFIG GET: %v; INFO: %v): make sure maxmemory-policy is noeviction, or jobs are evicted silently, "+
			"and that the server persists its data, or a restart loses every job it holds", cfgErr, infoErr))
	case c.Policy == "":
		c.Warnings = append(c.Warnings, "redis: maxmemory-policy could not be read: make sure it is noeviction, or jobs are evicted silently")
	}
	switch {
	case c.Persistence == PersistenceNone:
		c.Warnings = append(c.Warnings, `redis: neither AOF (appendonly no) nor RDB snapshots (save "") are on: `+
			"a restart of Redis loses every job it holds; run CONFIG SET appendonly yes, and set it in redis.conf")
	case c.Persistence == PersistenceUnknown && c.Source == "INFO":
		c.Warnings = append(c.Warnings, fmt.Sprintf("redis: AOF is off and the RDB snapshot settings could not be read "+
			"(CONFIG GET: %v): make sure the server persists its data, or a restart loses every job it holds", cfgErr))
	}
	return c, nil
}

func persistence(aof, rdb bool) string {
	switch {
	case aof && rdb:
		return PersistenceBoth
	case aof:
		return PersistenceAOF
	case rdb:
		return PersistenceRDB
	}
	return PersistenceNone
}

// configGet reads each parameter with its own CONFIG GET, which servers
// older than 7 require; a parameter the server does not list is an error.
func configGet(ctx context.Context, rdb redis.UniversalClient, params ...string) (map[string]string, error) {
	out := make(map[string]string, len(params))
	for _, p := range params {
		m, err := rdb.ConfigGet(ctx, p).Result()
		if err != nil {
			return nil, err
		}
		v, ok := m[p]
		if !ok {
			return nil, fmt.Errorf("CONFIG GET %s returned no value", p)
		}
		out[p] = v
	}
	return out, nil
}

// infoGet reads the memory and persistence sections of INFO as key and
// value.
func infoGet(ctx context.Context, rdb redis.UniversalClient) (map[string]string, error) {
	s, err := rdb.Info(ctx, "memory", "persistence").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}
