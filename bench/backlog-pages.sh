#!/usr/bin/env bash
# backlog-pages.sh times what an operator's reads cost on a database that
# holds a backlog: `tripin queue stats`, a /metrics scrape, the dashboard's
# overview and its jobs pages (pending and delayed), five times each, by a
# `tripin serve --no-worker --no-scheduler` started on that database.
#
#   bench/backlog-pages.sh TRIPIN_BINARY PORT
#
# The database is the one the environment names (DB_CONNECTION, DB_DATABASE
# or DB_URL), for example one left by
#   tripin bench queue --backend pgsql --backlog 1000000 --delayed 1000000 --keep
# with an administrator whose credentials are in ADMIN_EMAIL and
# ADMIN_PASSWORD (`tripin user create --admin`). Run it with two binaries
# (before and after a change) on the same database to compare them. Each
# figure is curl's time_total in seconds; scrapes are 1.1 s apart, past the
# 1 s for which /metrics reuses one database read.
set -euo pipefail

bin="${1:?usage: backlog-pages.sh TRIPIN_BINARY PORT}"
port="${2:?usage: backlog-pages.sh TRIPIN_BINARY PORT}"
: "${ADMIN_EMAIL:?set ADMIN_EMAIL}" "${ADMIN_PASSWORD:?set ADMIN_PASSWORD}"
base="http://127.0.0.1:$port"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

printf 'queue stats'
for _ in 1 2 3 4 5; do
	start=$(date +%s.%N)
	"$bin" queue stats >/dev/null
	printf ' %.3f' "$(echo "$(date +%s.%N) - $start" | bc)"
done
echo

HTTP_ADDR="127.0.0.1:$port" APP_URL="$base" "$bin" serve --no-worker --no-scheduler >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -fs -o /dev/null "$base/healthz" && break
	sleep 0.2
done
jar="$work/cookies"
csrf=$(curl -s -c "$jar" -b "$jar" "$base/admin/login" | sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "_csrf=$csrf" \
	--data-urlencode "email=$ADMIN_EMAIL" --data-urlencode "password=$ADMIN_PASSWORD" "$base/admin/login"
for path in /metrics /admin '/admin/jobs?state=pending' '/admin/jobs?state=delayed'; do
	printf '%s' "$path"
	for _ in 1 2 3 4 5; do
		sleep 1.1
		curl -s -o "$work/page" -b "$jar" -w ' %{http_code}:%{time_total}' "$base$path"
	done
	echo
done
