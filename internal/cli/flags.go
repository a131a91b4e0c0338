package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// durationFlag is a flag holding a duration written as seconds ("90",
// "0.5", as Laravel's flags take them) or as a Go duration ("1m30s",
// "250ms"). set records whether the flag was given.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

// Type names the value in help: seconds or a duration.
func (f *durationFlag) Type() string { return "seconds" }

func (f *durationFlag) Set(s string) error {
	d, err := parseSeconds(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}

// parseSeconds parses a non-negative number of seconds or a Go duration.
func parseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if sec, err := strconv.ParseFloat(s, 64); err == nil {
		if sec < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(sec * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration such as 1m30s", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

// intFlag is an int flag that records whether it was given.
type intFlag struct {
	n   int
	set bool
}

func (f *intFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.Itoa(f.n)
}

// Type names the value in help.
func (f *intFlag) Type() string { return "int" }

func (f *intFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	f.n, f.set = n, true
	return nil
}

// splitQueues parses a --queue list ("emails,default").
func splitQueues(s string) []string {
	var out []string
	for _, q := range strings.Split(s, ",") {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, q)
		}
	}
	return out
}
