#!/usr/bin/env bash
# compare.sh runs Tripin's queue benchmark (`tripin bench queue`) and the same
# workload on River (bench/river, a separate Go module) side by side, in one
# run, on the same PostgreSQL server and the same SQLite settings, plus
# Tripin alone on MariaDB/MySQL, and prints a table with the ratios.
#
#   bench/compare.sh [--jobs N] [--rounds N] [--backends "sqlite pgsql mysql"] [--out DIR]
#
# Each round runs Tripin and then River once per backend (one drain per
# setting each, the best setting counting), so that the load of a shared
# machine hits both alike; the table shows the median of the rounds. Server
# DSNs come from TRIPIN_TEST_PGSQL_DSN and TRIPIN_TEST_MYSQL_DSN, or the
# local defaults. Each measurement creates a fresh database and drops it
# afterwards. Extra flags for either side can be passed in TRIPIN_FLAGS and
# RIVER_FLAGS (for example RIVER_FLAGS="--max-workers 100,1000").
set -euo pipefail

jobs=20000
rounds=3
backends="sqlite pgsql mysql"
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--jobs) jobs="$2"; shift 2 ;;
	--rounds) rounds="$2"; shift 2 ;;
	--backends) backends="$2"; shift 2 ;;
	--out) out="$2"; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

pg_dsn="${TRIPIN_TEST_PGSQL_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
my_dsn="${TRIPIN_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}"

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="${out:-$work}"
mkdir -p "$out"

echo "building tripin and the River benchmark..." >&2
(cd "$root" && go build -o "$work/tripin" ./cmd/tripin)
(cd "$root/bench/river" && go build -o "$work/riverbench" .)

# field FILE NAME prints the median over the JSON lines in FILE (one per
# round) of the number NAME (its first occurrence in each line: the
# top-level fields come before the per-trial ones).
field() {
	while IFS= read -r line; do
		grep -o "\"$2\":[-0-9.eE+]*" <<<"$line" | head -n1 | cut -d: -f2
	done <"$1" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# rounds FILE NAME prints NAME of each round, joined with "/".
rounds_of() {
	while IFS= read -r line; do
		grep -o "\"$2\":[0-9]*" <<<"$line" | head -n1 | cut -d: -f2
	done <"$1" | paste -sd/ -
}

# ratio A B prints A/B with two decimals, or "-" when either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

run_tripin() { # backend
	local dsn=()
	case "$1" in
	pgsql) dsn=(--dsn "$pg_dsn") ;;
	mysql) dsn=(--dsn "$my_dsn") ;;
	esac
	echo "tripin $1..." >&2
	# shellcheck disable=SC2086
	"$work/tripin" bench queue --backend "$1" "${dsn[@]}" --jobs "$jobs" --runs 1 --json ${TRIPIN_FLAGS:-} >>"$out/tripin-$1.json"
}

run_river() { # backend
	local dsn=()
	[ "$1" = pgsql ] && dsn=(--dsn "$pg_dsn")
	echo "river $1..." >&2
	# shellcheck disable=SC2086
	"$work/riverbench" --backend "$1" "${dsn[@]}" --jobs "$jobs" --runs 1 --json ${RIVER_FLAGS:-} >>"$out/river-$1.json"
}

for b in $backends; do
	rm -f "$out/tripin-$b.json" "$out/river-$b.json"
done
for round in $(seq "$rounds"); do
	echo "round $round of $rounds" >&2
	for b in $backends; do
		run_tripin "$b"
		case "$b" in sqlite|pgsql) run_river "$b" ;; esac
	done
done

printf '\n%s jobs per drain, median of %s rounds (each at its best setting); %s; %s cores; load average %s\n\n' "$jobs" "$rounds" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| backend | engine | insert/s | work/s | p50 ms | p99 ms | p50 ms, other client | setting |\n'
printf '|---|---|---:|---:|---:|---:|---:|---|\n'
for b in $backends; do
	for e in tripin river; do
		f="$out/$e-$b.json"
		[ -s "$f" ] || continue
		if [ "$e" = tripin ]; then
			setting="concurrency $(rounds_of "$f" concurrency)"
			xp="$(printf '%.2f' "$(field "$f" xproc_latency_p50_ms)")"
		else
			setting="MaxWorkers $(rounds_of "$f" max_workers)"
			xp="(same)"
		fi
		printf '| %s | %s | %.0f | %.0f | %.2f | %.2f | %s | %s |\n' "$b" "$e" \
			"$(field "$f" insert_per_sec)" "$(field "$f" work_per_sec)" \
			"$(field "$f" latency_p50_ms)" "$(field "$f" latency_p99_ms)" "$xp" "$setting"
	done
done

printf '\n| backend | work/s Tripin ÷ River | insert/s Tripin ÷ River | p50 River ÷ Tripin (same process) | p50 River ÷ Tripin (other client) |\n'
printf '|---|---:|---:|---:|---:|\n'
for b in $backends; do
	t="$out/tripin-$b.json" r="$out/river-$b.json"
	[ -s "$t" ] && [ -s "$r" ] || continue
	printf '| %s | %s | %s | %s | %s |\n' "$b" \
		"$(ratio "$(field "$t" work_per_sec)" "$(field "$r" work_per_sec)")" \
		"$(ratio "$(field "$t" insert_per_sec)" "$(field "$r" insert_per_sec)")" \
		"$(ratio "$(field "$r" latency_p50_ms)" "$(field "$t" latency_p50_ms)")" \
		"$(ratio "$(field "$r" latency_p50_ms)" "$(field "$t" xproc_latency_p50_ms)")"
done
