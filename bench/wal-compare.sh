#!/usr/bin/env bash
# wal-compare.sh measures SQLite's WAL and booking latency for two builds
# side by side, in one run, so that the load of a shared machine hits both
# alike: the working tree ("after") and a git revision ("before").
#
#   bench/wal-compare.sh [--before REV] [--rounds N] [--duration D] [--generator wrk|go] [--out DIR]
#
# Each round runs, for before then after:
#   - `tripin bench wal`: the build's `tripin serve` on a fresh SQLite file,
#     16 clients posting bookings from outside (wrk when it is installed,
#     else bench wal's own Go clients) for --duration, /metrics scraped every
#     second, the WAL's size sampled every 100 ms;
#   - `tripin bench booking --backend sqlite --concurrency 16`: booking
#     latency in process, over HTTP and raw.
# The load generator and the plot are the working tree's for both builds.
# It prints one line per measurement and leaves in --out the JSON lines, the
# CSV of every WAL curve and wal.svg with the curves of the first round.
# --before defaults to the commit before the WAL checkpointer (18e4bb8).
set -euo pipefail

before=18e4bb8
rounds=2
duration=60s
generator=""
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--before) before="$2"; shift 2 ;;
	--rounds) rounds="$2"; shift 2 ;;
	--duration) duration="$2"; shift 2 ;;
	--generator) generator="$2"; shift 2 ;;
	--out) out="$2"; shift 2 ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "wal-compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$generator" ]; then
	if command -v wrk >/dev/null; then generator=wrk; else generator=go; fi
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="${out:-$work/out}"
mkdir -p "$out"

echo "building the working tree and $before..." >&2
(cd "$root" && go build -o "$work/tripin-after" ./cmd/tripin)
mkdir -p "$work/src" && git -C "$root" archive "$before" | tar -x -C "$work/src"
(cd "$work/src" && go build -o "$work/tripin-before" ./cmd/tripin)

for r in $(seq 1 "$rounds"); do
	for b in before after; do
		echo "round $r, $b: bench wal ($generator), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
		"$work/tripin-after" bench wal --server "$work/tripin-$b" --label "$b ($generator)" --generator "$generator" \
			--concurrency 16 --duration "$duration" --settle 5s --csv "$out/wal-$b-$r.csv" --json | tee -a "$out/wal-$b.jsonl" |
			grep -o '"label":"[^"]*"\|"bookings_per_sec":[0-9.]*\|"latency_p99_ms":[0-9.]*\|"wal_max_bytes":[0-9]*' | paste -sd' ' -
	done
	for b in before after; do
		echo "round $r, $b: bench booking, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
		"$work/tripin-$b" bench booking --backend sqlite --concurrency 16 --duration 10s --json | tee -a "$out/booking-$b.jsonl" |
			grep -o '"requests_per_sec":[0-9.]*\|"latency_p99_ms":[0-9.]*\|"raw_tx_per_sec":[0-9.]*\|"raw_p99_ms":[0-9.]*' |
			paste -sd' ' - | sed "s/^/$b booking: /"
	done
done
"$work/tripin-after" bench wal --plot-only --duration "$duration" --svg "$out/wal.svg" \
	--plot-with "$out/wal-before-1.csv" --plot-with "$out/wal-after-1.csv"
echo "results in $out" >&2
