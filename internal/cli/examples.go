package cli

import "strings"

// examples are the command lines each command's help shows: what an
// operator types most, with a comment line saying what it does.
var examples = map[string][]string{
	"serve": {
		"# The API, dashboard, a worker and the scheduler on the local SQLite database", "tripin serve",
		"# Web only, on another address, with workers and the scheduler run elsewhere", "tripin serve --addr :9000 --no-worker --no-scheduler",
	},
	"migrate": {
		"# Apply the pending migrations", "tripin migrate",
		"# Start again from an empty database with demo data (refused in production without --force)", "tripin migrate --fresh --seed",
	},
	"migrate status": {"# Which migrations have run", "tripin migrate:status", "# For scripts", "tripin migrate status --json"},
	"migrate fresh":  {"# Drop every table, migrate and seed the demo data", "tripin migrate fresh --seed"},
	"db seed":        {"# Demo tours (and, in local mode, the demo accounts)", "tripin db:seed"},
	"db copy": {
		"# Move the local SQLite database to MariaDB, then check the copy", "tripin db copy --to 'mysql://tripin:secret@127.0.0.1:3306/tripin'",
		"# Only compare two databases, table by table", "tripin db copy --from storage/tripin.db --to 'postgres://tripin@127.0.0.1/tripin' --verify-only",
	},
	"doctor": {
		"# Check this deployment; exits 1 and names each problem", "tripin doctor",
		"# Only the problems, as JSON for a monitor", "tripin doctor --quiet --json",
	},
	"about":           {"# The environment, database, queues, mail, Midtrans mode, schedule and retention", "tripin about", "# For scripts (secrets are never shown)", "tripin about --json"},
	"db backup":       {"# A consistent copy of the SQLite database while serve runs", "tripin db:backup /var/backups/tripin-$(date +%F).db", "# Overwrite yesterday's", "tripin db backup /var/backups/tripin.db --force"},
	"db prune":        {"# Prune every table past its retention now, as the hourly task does", "tripin db:prune"},
	"key generate":    {"# A new key for .env", "tripin key:generate", "# Append it to .env", "echo \"APP_KEY=$(tripin key generate)\" >> .env"},
	"mail test":       {"# Send a test email through the configured mailer", "tripin mail:test --to ops@example.com"},
	"bookings expire": {"# Expire unpaid bookings past their hold and return their seats", "tripin bookings:expire", "# In smaller transactions", "tripin bookings expire --chunk 100 --json"},
	"user create": {
		"# The first administrator; the password is asked for", "tripin user create --admin --name 'Ops' --email ops@example.com",
		"# From a script, the password on stdin", "printf '%s' \"$PASSWORD\" | tripin user create --name Ana --email ana@example.com --password-stdin",
	},
	"user password": {"# Set a new password and log the user out everywhere", "tripin user password --email ana@example.com"},
	"queue work": {
		"# Work the emails queue first, then default", "tripin queue:work --queue emails,default",
		"# Ten jobs at once, stopping when the queue is empty", "tripin queue work --concurrency 10 --stop-when-empty",
		"# Restart itself (under systemd) when it uses more than 512 MB", "tripin queue work --memory 512 --max-time 3600",
	},
	"queue push": {
		"# Three no-op jobs", "tripin queue:push noop --count 3",
		"# A job that sleeps 250 ms, in a minute, on the emails queue", "tripin queue push sleep --args '{\"ms\":250}' --delay 60 --queue emails",
	},
	"queue restart": {"# Every worker on every server exits after its running jobs", "tripin queue:restart"},
	"queue stats":   {"# Every queue's counts and oldest wait, then the live workers", "tripin queue:stats", "# For scripts", "tripin queue stats --json | jq '.[] | select(.oldest_wait_seconds > 60)'"},
	"queue monitor": {"# Alert when a queue holds more than 100 jobs", "tripin queue:monitor database:default,database:emails --max 100"},
	"queue failed":  {"# The 20 newest failed jobs", "tripin queue:failed --limit 20", "# Those of one queue, as JSON", "tripin queue failed --queue emails --json"},
	"queue retry":   {"# Retry one failed job by its uuid", "tripin queue:retry 9b1f0c2e-1c4e-4d55-8a8e-5d2f3f5c7a10", "# Retry every failed job of the emails queue", "tripin queue retry all --queue emails"},
	"queue forget":  {"# Delete one failed job", "tripin queue:forget 42"},
	"queue flush":   {"# Delete every failed job", "tripin queue:flush", "# Only those older than two days", "tripin queue flush --hours 48"},
	"queue prune-failed": {
		"# Delete failed jobs older than the retention, in chunks", "tripin queue:prune-failed",
		"# Older than a week", "tripin queue prune-failed --hours 168",
	},
	"queue clear":         {"# Delete every job of the emails queue", "tripin queue:clear --queue emails"},
	"queue pause":         {"# Stop every worker taking jobs from the emails queue", "tripin queue:pause emails"},
	"queue resume":        {"# Let workers take the emails queue's jobs again", "tripin queue:resume emails"},
	"queue batches":       {"# The newest batches and their progress", "tripin queue:batches --limit 10"},
	"queue cancel-batch":  {"# Cancel a batch: its jobs not yet started are skipped", "tripin queue:cancel-batch 0b6c6a3e-2f61-4f0e-9d7e-1c4a5b6d7e8f"},
	"queue retry-batch":   {"# Retry the failed jobs of a batch", "tripin queue:retry-batch 0b6c6a3e-2f61-4f0e-9d7e-1c4a5b6d7e8f"},
	"queue prune-batches": {"# Delete finished batches older than a day", "tripin queue:prune-batches --hours 24"},
	"schedule run":        {"# Run the tasks due this minute (from cron, every minute)", "tripin schedule:run", "# The tick of a given time, for recovery", "tripin schedule run --time 2026-11-27T10:05:00+07:00"},
	"schedule work":       {"# Run the scheduler in the foreground, every minute", "tripin schedule:work"},
	"schedule list":       {"# The tasks and when each runs next", "tripin schedule:list"},
	"schedule test":       {"# Run one task now", "tripin schedule:test --name expire-unpaid-bookings"},
	"bench queue": {
		"# Inserts/s, jobs/s and latency on the embedded SQLite", "tripin bench queue --backend sqlite --jobs 20000",
		"# The same on PostgreSQL, at two concurrencies", "tripin bench queue --backend pgsql --dsn 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' --concurrency 10,50",
	},
	"bench booking": {
		"# POST /api/bookings at 32 clients for 10 s", "tripin bench booking --backend sqlite --duration 10s",
		"# Everyone books one tour (a flash sale)", "tripin bench booking --backend mysql --dsn 'root@tcp(127.0.0.1:3306)/' --tours 1",
		"# Empty table, then 1,000,000 bookings already in it", "tripin bench booking --backend pgsql --seed-bookings 1000000",
	},
	"bench prune": {"# The hourly prune of 100,000 old rows, with bookings running", "tripin bench prune --backend sqlite --rows 100000"},
	"bench wal":   {"# A minute of booking load on serve, sampling the WAL's size", "tripin bench wal --duration 60s --svg docs/wal.svg"},
	"bench serve": {
		"# serve on SQLite at 500 bookings/s for a minute, mail to a real SMTP sink", "tripin bench serve --backend sqlite --rate 500 --duration 60s",
		"# Every backend at full speed, against the handler alone", "tripin bench serve --backend sqlite,mysql,pgsql --compare",
	},
	"bench faults": {"# The short fault matrix on SQLite", "tripin bench faults --backend sqlite", "# The long one, server restarts included, on PostgreSQL", "tripin bench faults --backend pgsql --long"},
}

// exampleText formats the examples of the command name as help shows them.
func exampleText(name string) string {
	lines := examples[name]
	var b strings.Builder
	for i := 0; i+1 < len(lines); i += 2 {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("  " + lines[i] + "\n  " + lines[i+1])
	}
	return b.String()
}
