package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Job states JobSearch selects besides those of JobList: jobs that
// completed (kept as history) and jobs that failed for good.
const (
	JobStateCompleted = "completed"
	JobStateFailed    = "failed"
)

// JobStates are every state a job can be found in, in the order of its
// life.
var JobStates = []string{JobStatePending, JobStateDelayed, JobStateReserved, JobStateCompleted, JobStateFailed}

// MaxTagLength caps a tag's length.
const MaxTagLength = 120

// NormalizeTags trims tags, drops empty and repeated ones, and refuses
// tags that cannot be searched for exactly: longer than MaxTagLength or
// holding characters JSON escapes (quotes, backslashes, <, >, &, control
// characters). Tags are searched in the stored payload's JSON, so a tag
// must read the same there as it is typed.
func NormalizeTags(tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || slices.Contains(out, t) {
			continue
		}
		if err := ValidTag(t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// ValidTag reports why t cannot be a tag, or nil.
func ValidTag(t string) error {
	if t == "" {
		return errors.New("empty tag")
	}
	if len(t) > MaxTagLength {
		return fmt.Errorf("tag %.20q…: longer than %d bytes", t, MaxTagLength)
	}
	for _, r := range t {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"\<>&`, r) {
			return fmt.Errorf("tag %q: holds %q", t, r)
		}
	}
	return nil
}

// PayloadTags returns the tags of a stored payload (its "tags" array),
// nil when it has none or cannot be read.
func PayloadTags(payload []byte) []string {
	var p struct {
		Tags []string `json:"tags"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return nil
	}
	return p.Tags
}

// TagPattern is the SQL LIKE pattern (with '!' as its escape character)
// that finds a tag in a stored payload: the tag as a JSON string. It may
// also match the same string among the job's args, which tagged jobs
// never hold apart from their tags.
func TagPattern(tag string) string {
	return "%" + LikeEscape(`"`+tag+`"`) + "%"
}

// LikeEscape escapes s for a LIKE pattern whose escape character is '!'.
func LikeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// JobSearchParams select the jobs of JobSearch. Every filter that is set
// must match.
type JobSearchParams struct {
	// States keeps jobs in these states; empty means every state.
	States []string
	Queue  string
	// Kind is the job class.
	Kind string
	// Tag keeps jobs carrying this tag.
	Tag string
	// Error keeps jobs whose error (failed jobs' exception, the last
	// error of waiting ones) contains this text.
	Error string
	// Since and Until, when set, bound the entry's At.
	Since, Until time.Time
	// Limit is the page size (DefaultJobSearchLimit when zero).
	Limit int
	// After continues a listing after the page that returned it.
	After JobCursor
}

// DefaultJobSearchLimit is JobSearch's page size when Limit is zero.
const DefaultJobSearchLimit = 50

// Check reports what is wrong with the params: an unknown state, a tag
// that cannot be one.
func (p *JobSearchParams) Check() error {
	for _, s := range p.States {
		if !slices.Contains(JobStates, s) {
			return fmt.Errorf("unknown state %q (want one of %s)", s, strings.Join(JobStates, ", "))
		}
	}
	if p.Tag != "" {
		return ValidTag(p.Tag)
	}
	return nil
}

// Wants reports whether the params select jobs of state.
func (p *JobSearchParams) Wants(state string) bool {
	return len(p.States) == 0 || slices.Contains(p.States, state)
}

// JobCursor is a position in a JobSearch listing: for each table the
// listing reads (jobs, completed jobs, failed jobs), newest first by id,
// the last id it returned (0: none yet). Each table is paged by keyset on
// its primary key, so a page costs the same on the millionth row as on the
// first, and a job is never listed twice nor skipped while it stays where
// it is.
type JobCursor struct {
	Jobs, Completed, Failed int64
}

// IsZero reports whether c is the start of a listing.
func (c JobCursor) IsZero() bool { return c == JobCursor{} }

// String encodes c for a URL ("j12.c40.f3"); the zero cursor is "".
func (c JobCursor) String() string {
	if c.IsZero() {
		return ""
	}
	return fmt.Sprintf("j%d.c%d.f%d", c.Jobs, c.Completed, c.Failed)
}

// ParseJobCursor decodes JobCursor.String; "" is the zero cursor.
func ParseJobCursor(s string) (JobCursor, error) {
	var c JobCursor
	if s == "" {
		return c, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("job cursor %q: want j<id>.c<id>.f<id>", s)
	}
	for i, dst := range []*int64{&c.Jobs, &c.Completed, &c.Failed} {
		p := parts[i]
		if len(p) < 2 || p[0] != "jcf"[i] {
			return c, fmt.Errorf("job cursor %q: want j<id>.c<id>.f<id>", s)
		}
		n, err := strconv.ParseInt(p[1:], 10, 64)
		if err != nil || n < 0 {
			return c, fmt.Errorf("job cursor %q: want j<id>.c<id>.f<id>", s)
		}
		*dst = n
	}
	return c, nil
}

// JobEntry is one job as the operator sees it, whatever its state.
type JobEntry struct {
	State string
	// ID is the row's id in its table: jobs.id for a waiting or running
	// job, completed_jobs.id, failed_jobs.id.
	ID int64
	// JobID is the job's id in the jobs table while it was there (0 when
	// not known: failed jobs keep only their uuid).
	JobID       int64
	UUID        string
	Queue       string
	Kind        string
	Tags        []string
	Payload     []byte
	Attempts    int
	MaxAttempts int
	// Error is the failed job's exception, or a waiting job's last error.
	Error string
	// Errors is the job's error log: the errors of its failed attempts,
	// oldest first.
	Errors     []AttemptError
	BatchID    string
	ReservedBy string
	// QueuedAt is when the job was inserted; AvailableAt when it could
	// first run; StartedAt when its last attempt was reserved; FinishedAt
	// when it completed or failed for good. Unknown times are zero.
	QueuedAt, AvailableAt, StartedAt, FinishedAt time.Time
	// RuntimeMS and WaitMS are known for completed jobs.
	RuntimeMS, WaitMS int64
	// At orders the listing: when the job finished, else when it was
	// queued.
	At time.Time
}

// JobSearchPage is one page of JobSearch: entries newest first, and the
// cursor of the next page when More.
type JobSearchPage struct {
	Entries []*JobEntry
	Next    JobCursor
	More    bool
}

// MergeJobPages merges the newest-first lists read from each table (each
// in its table's order, id descending, with up to limit+1 rows so that
// More can be told) into one page of at most limit entries, and moves the
// cursor on past the entries taken. It merges by At, always taking the
// head of one list, so that what it takes of each list is a prefix and
// the cursor (the last id taken per table) skips nothing.
func MergeJobPages(after JobCursor, limit int, jobs, completed, failed []*JobEntry) *JobSearchPage {
	if limit <= 0 {
		limit = DefaultJobSearchLimit
	}
	lists := [3][]*JobEntry{jobs, completed, failed}
	pos := [3]int64{after.Jobs, after.Completed, after.Failed}
	page := &JobSearchPage{}
	for {
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || l[0].At.After(lists[best][0].At)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		if len(page.Entries) == limit {
			page.More = true
			break
		}
		e := lists[best][0]
		lists[best] = lists[best][1:]
		page.Entries = append(page.Entries, e)
		pos[best] = e.ID
	}
	page.Next = JobCursor{Jobs: pos[0], Completed: pos[1], Failed: pos[2]}
	return page
}

// JobFindParams name one job for JobFind: its uuid, and its jobs id when
// known (the row is then read by primary key while the job waits or runs).
type JobFindParams struct {
	UUID  string
	JobID int64
}

// TagMonitor is an optional capability of a Driver: the monitored tags,
// whose completed jobs are kept (with every other job of the tag) for
// longer than the others, as Horizon's monitored tags.
type TagMonitor interface {
	// TagMonitorList returns the monitored tags, sorted.
	TagMonitorList(ctx context.Context) ([]string, error)
	// TagMonitorAdd starts monitoring a tag; adding one twice is no error.
	TagMonitorAdd(ctx context.Context, tag string) error
	// TagMonitorRemove stops monitoring a tag.
	TagMonitorRemove(ctx context.Context, tag string) error
}
