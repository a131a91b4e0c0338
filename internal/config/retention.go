package config

import (
	"fmt"
	"strconv"
	"time"
)

// Retention says how long each kind of record is kept before the hourly
// prune-old-records task deletes it. A zero duration keeps that kind
// forever. Each field names its .env key; the defaults and the reasons
// for them are in .env.example and docs/OPERATIONS.md.
type Retention struct {
	// FailedJobs (QUEUE_FAILED_RETENTION_HOURS) keeps failed jobs long
	// enough that one that failed on a Friday night is still there to
	// retry on Monday.
	FailedJobs time.Duration
	// Batches (QUEUE_BATCHES_RETENTION_HOURS) keeps finished batches, and
	// the ids of their failed jobs, as long as those failed jobs.
	Batches time.Duration
	// CompletedJobs (QUEUE_COMPLETED_RETENTION_HOURS) is the history of
	// completed jobs, when it is kept at all.
	CompletedJobs time.Duration
	// JobMetrics (QUEUE_METRICS_RETENTION_DAYS) are the per-minute points
	// behind the dashboard's charts, per queue and per job class (whose
	// minutes become hours after a day).
	JobMetrics time.Duration
	// QueueProcesses (QUEUE_PROCESSES_RETENTION_MINUTES) keeps the row of
	// a worker or scheduler that stopped heartbeating without a clean stop.
	QueueProcesses time.Duration
	// IdempotencyKeys (IDEMPOTENCY_KEYS_RETENTION_HOURS) are the stored
	// answers to POST /api/bookings; the key of a booking still pending is
	// kept whatever its age.
	IdempotencyKeys time.Duration
	// SentEmails (SENT_EMAILS_RETENTION_DAYS) stop a retried email job
	// from sending twice, so they outlive every way a job can come back.
	SentEmails time.Duration
	// PaymentNotifications (PAYMENT_NOTIFICATIONS_RETENTION_DAYS) keeps
	// the Midtrans notifications that were accepted: the audit trail.
	PaymentNotifications time.Duration
	// RejectedPaymentNotifications
	// (PAYMENT_REJECTED_NOTIFICATIONS_RETENTION_DAYS) keeps those answered
	// with a 4xx: bad signature, unknown order, malformed or inconsistent.
	RejectedPaymentNotifications time.Duration
	// OpsNotifications (OPS_NOTIFICATIONS_RETENTION_DAYS) keeps the
	// operator notifications once every channel has them; unsent ones are
	// never pruned.
	OpsNotifications time.Duration
	// ScheduleRuns (SCHEDULE_RUNS_RETENTION_DAYS) keeps the scheduler's
	// run log; each task's latest run is always kept.
	ScheduleRuns time.Duration
	// ExpiredTokens (AUTH_EXPIRED_TOKENS_RETENTION_HOURS) keeps API and
	// dashboard tokens this long after they expired.
	ExpiredTokens time.Duration
	// RateLimits (QUEUE_RATE_LIMITS_RETENTION_MINUTES) keeps a limiter
	// window's row (logins, registrations, rejected payment notifications,
	// rate-limited jobs) this long after the window ended. A window that is
	// over counts nothing, so this only bounds the table.
	RateLimits time.Duration
	// ChunkSize (RETENTION_CHUNK_SIZE) is the most rows one DELETE
	// statement removes, so that no prune holds a lock for long.
	ChunkSize int
}

// The defaults of the retention keys.
const (
	DefaultFailedJobsRetention                   = 7 * 24 * time.Hour
	DefaultBatchesRetention                      = 7 * 24 * time.Hour
	DefaultCompletedJobsRetention                = 24 * time.Hour
	DefaultJobMetricsRetention                   = 30 * 24 * time.Hour
	DefaultQueueProcessesRetention               = time.Hour
	DefaultIdempotencyKeysRetention              = 24 * time.Hour
	DefaultSentEmailsRetention                   = 90 * 24 * time.Hour
	DefaultPaymentNotificationsRetention         = 365 * 24 * time.Hour
	DefaultRejectedPaymentNotificationsRetention = 3 * 24 * time.Hour
	DefaultOpsNotificationsRetention             = 30 * 24 * time.Hour
	DefaultScheduleRunsRetention                 = 30 * 24 * time.Hour
	DefaultExpiredTokensRetention                = 24 * time.Hour
	DefaultRateLimitsRetention                   = time.Hour
	DefaultRetentionChunkSize                    = 1000
)

// MaxScheduleRunsRetention bounds SCHEDULE_RUNS_RETENTION_DAYS: the
// scheduler trims its own run log after 30 days, so a longer setting
// would not be honoured.
const MaxScheduleRunsRetention = 30 * 24 * time.Hour

// retentionKey is one retention key: its unit, its default and the
// smallest and largest non-zero values it accepts.
type retentionKey struct {
	key      string
	unit     time.Duration
	unitName string
	def      time.Duration
	min, max int
	// noZero refuses 0 (keep forever) for keys whose table another part
	// trims on its own.
	noZero bool
	field  func(r *Retention) *time.Duration
}

const (
	day = 24 * time.Hour
	// tenYearsDays bounds every retention: a longer one is a typo.
	tenYearsDays = 3650
)

// retentionKeys lists the retention keys in the order of .env.example.
var retentionKeys = []retentionKey{
	{"QUEUE_FAILED_RETENTION_HOURS", time.Hour, "hours", DefaultFailedJobsRetention, 1, tenYearsDays * 24, false,
		func(r *Retention) *time.Duration { return &r.FailedJobs }},
	{"QUEUE_BATCHES_RETENTION_HOURS", time.Hour, "hours", DefaultBatchesRetention, 1, tenYearsDays * 24, false,
		func(r *Retention) *time.Duration { return &r.Batches }},
	{"QUEUE_COMPLETED_RETENTION_HOURS", time.Hour, "hours", DefaultCompletedJobsRetention, 1, tenYearsDays * 24, false,
		func(r *Retention) *time.Duration { return &r.CompletedJobs }},
	{"QUEUE_METRICS_RETENTION_DAYS", day, "days", DefaultJobMetricsRetention, 1, tenYearsDays, false,
		func(r *Retention) *time.Duration { return &r.JobMetrics }},
	// A live process renews its row every 10 seconds; five minutes leaves
	// room for a long pause (a stopped VM, a GC) without deleting it.
	{"QUEUE_PROCESSES_RETENTION_MINUTES", time.Minute, "minutes", DefaultQueueProcessesRetention, 5, tenYearsDays * 24 * 60, false,
		func(r *Retention) *time.Duration { return &r.QueueProcesses }},
	{"IDEMPOTENCY_KEYS_RETENTION_HOURS", time.Hour, "hours", DefaultIdempotencyKeysRetention, 1, tenYearsDays * 24, false,
		func(r *Retention) *time.Duration { return &r.IdempotencyKeys }},
	{"SENT_EMAILS_RETENTION_DAYS", day, "days", DefaultSentEmailsRetention, 1, tenYearsDays, false,
		func(r *Retention) *time.Duration { return &r.SentEmails }},
	{"PAYMENT_NOTIFICATIONS_RETENTION_DAYS", day, "days", DefaultPaymentNotificationsRetention, 1, tenYearsDays, false,
		func(r *Retention) *time.Duration { return &r.PaymentNotifications }},
	{"PAYMENT_REJECTED_NOTIFICATIONS_RETENTION_DAYS", day, "days", DefaultRejectedPaymentNotificationsRetention, 1, tenYearsDays, false,
		func(r *Retention) *time.Duration { return &r.RejectedPaymentNotifications }},
	{"OPS_NOTIFICATIONS_RETENTION_DAYS", day, "days", DefaultOpsNotificationsRetention, 1, tenYearsDays, false,
		func(r *Retention) *time.Duration { return &r.OpsNotifications }},
	{"SCHEDULE_RUNS_RETENTION_DAYS", day, "days", DefaultScheduleRunsRetention, 1, int(MaxScheduleRunsRetention / day), true,
		func(r *Retention) *time.Duration { return &r.ScheduleRuns }},
	{"AUTH_EXPIRED_TOKENS_RETENTION_HOURS", time.Hour, "hours", DefaultExpiredTokensRetention, 1, tenYearsDays * 24, false,
		func(r *Retention) *time.Duration { return &r.ExpiredTokens }},
	{"QUEUE_RATE_LIMITS_RETENTION_MINUTES", time.Minute, "minutes", DefaultRateLimitsRetention, 1, tenYearsDays * 24 * 60, false,
		func(r *Retention) *time.Duration { return &r.RateLimits }},
}

// retentionChunkKey sets Retention.ChunkSize.
const retentionChunkKey = "RETENTION_CHUNK_SIZE"

// retentionKeyNames returns the retention keys, for Keys.
func retentionKeyNames() []string {
	out := make([]string, 0, len(retentionKeys)+1)
	for _, k := range retentionKeys {
		out = append(out, k.key)
	}
	return append(out, retentionChunkKey)
}

// retention parses every retention key, then the rules that tie them to
// each other and to the queue's lease.
func (p *parser) retention(retryAfter time.Duration) Retention {
	var r Retention
	for _, k := range retentionKeys {
		*k.field(&r) = p.retentionValue(k)
	}
	r.ChunkSize = p.intRange(retentionChunkKey, DefaultRetentionChunkSize, 100, 10_000)

	// A sent_emails row is what stops an email job that comes back (a
	// retry, a lease that ran out, an operator's `queue retry` of a failed
	// job) from sending its email a second time: it must outlive them all.
	switch {
	case r.SentEmails == 0:
	case r.FailedJobs == 0:
		p.fail("SENT_EMAILS_RETENTION_DAYS", "must be 0 (keep forever) while QUEUE_FAILED_RETENTION_HOURS=0 keeps failed jobs forever: a failed email job retried later must still find its sent record")
	case r.SentEmails < r.FailedJobs:
		p.fail("SENT_EMAILS_RETENTION_DAYS", fmt.Sprintf("must be at least QUEUE_FAILED_RETENTION_HOURS (%d hours): a failed email job retried later must still find its sent record", int(r.FailedJobs/time.Hour)))
	case r.SentEmails < retryAfter:
		p.fail("SENT_EMAILS_RETENTION_DAYS", "must be at least DB_QUEUE_RETRY_AFTER: an email job whose worker died must still find its sent record")
	}
	return r
}

func (p *parser) retentionValue(k retentionKey) time.Duration {
	v := p.str(k.key, "")
	if v == "" {
		return k.def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		p.fail(k.key, "must be a whole number of "+k.unitName+k.zeroHint())
	case n == 0 && k.noZero:
		p.fail(k.key, fmt.Sprintf("must be between %d and %d %s", k.min, k.max, k.unitName)+k.noZeroReason())
	case n == 0:
		return 0
	case n < k.min || n > k.max:
		p.fail(k.key, fmt.Sprintf("must be between %d and %d %s", k.min, k.max, k.unitName)+k.zeroHint())
	default:
		return time.Duration(n) * k.unit
	}
	return k.def
}

func (k retentionKey) zeroHint() string {
	if k.noZero {
		return k.noZeroReason()
	}
	return ", or 0 to keep forever"
}

func (k retentionKey) noZeroReason() string {
	return " (the scheduler trims its run log after 30 days on its own)"
}

// dump adds the retention keys to the values of a Dump.
func (r *Retention) dump(vals map[string]string) {
	for _, k := range retentionKeys {
		vals[k.key] = strconv.FormatInt(int64(*k.field(r)/k.unit), 10)
	}
	vals[retentionChunkKey] = strconv.Itoa(r.ChunkSize)
}
