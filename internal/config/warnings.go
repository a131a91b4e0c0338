package config

import (
	"fmt"
	"sort"
	"strings"
)

// Warnings returns what Load found suspicious but not wrong, one sentence
// each, such as "unknown setting QUEUE_CONECTION (in .env); did you mean
// QUEUE_CONNECTION?". Commands print them once at start; they never stop
// the process, since a key Tripin does not read may belong to another
// program.
func (c *Config) Warnings() []string { return c.warnings }

// knownKeys is Keys as a set.
var knownKeys = func() map[string]bool {
	m := make(map[string]bool, len(Keys))
	for _, k := range Keys {
		m[k] = true
	}
	return m
}()

// knownPrefixes are the first words of Keys ("APP_", "DB_", "QUEUE_", …):
// a name that starts with one of them looks like one of Tripin's keys.
var knownPrefixes = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range Keys {
		if i := strings.IndexByte(k, '_'); i > 0 {
			m[k[:i+1]] = true
		}
	}
	return m
}()

// keyPrefix returns the first word of key with its underscore, upper-cased.
func keyPrefix(key string) string {
	if i := strings.IndexByte(key, '_'); i > 0 {
		return strings.ToUpper(key[:i+1])
	}
	return ""
}

// hasKnownPrefix reports whether key starts with the first word of one of
// Tripin's keys, whatever its case.
func hasKnownPrefix(key string) bool { return knownPrefixes[keyPrefix(key)] }

// misspeltKeys returns a warning for every key of vals that Tripin does not
// read but that has a known prefix and is spelt close to a known key of
// that prefix: an edit or two away (one for short keys, a swap of two
// letters counting as one), the same key in another case, or the same key
// with another unit (…_RETENTION_DAYS for …_RETENTION_HOURS). Other
// unknown keys, such as Laravel's LOG_CHANNEL or another program's, pass
// in silence. origin names where each key came from, when known.
func misspeltKeys(vals map[string]string, origin map[string]string) []string {
	var out []string
	for k := range vals {
		if knownKeys[k] || !hasKnownPrefix(k) {
			continue
		}
		if guess := closestKey(k); guess != "" {
			where := ""
			if o := origin[k]; o != "" {
				where = " (in " + o + ")"
			}
			out = append(out, fmt.Sprintf("unknown setting %s%s; did you mean %s?", k, where, guess))
		}
	}
	sort.Strings(out)
	return out
}

// closestKey returns the known key that key most likely misspells, or "".
func closestKey(key string) string {
	upper := strings.ToUpper(key)
	prefix := keyPrefix(key)
	best, bestDist := "", -1
	for _, k := range Keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if upper == k || (withoutUnit(upper) != upper && withoutUnit(upper) == withoutUnit(k)) {
			return k
		}
		limit := 1
		if len(k) >= 10 {
			limit = 2
		}
		if d := editDistance(upper, k); d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// withoutUnit strips the unit word that ends a duration key.
func withoutUnit(key string) string {
	for _, unit := range []string{"_SECONDS", "_MINUTES", "_HOURS", "_DAYS"} {
		if s, ok := strings.CutSuffix(key, unit); ok {
			return s
		}
	}
	return key
}

// editDistance is the optimal string alignment distance between a and b:
// the fewest insertions, deletions, substitutions and swaps of two
// neighbouring characters that turn one into the other.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
