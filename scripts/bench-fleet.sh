#!/usr/bin/env bash
# The fleet's figures (README, "Running a fleet"): `catimage bench gateway` at fixed rates against
#   1. one replica logging to SQLite, directly;   2. one replica logging to PostgreSQL, directly;
#   3. nginx in front of 1 replica (PostgreSQL);  4. nginx in front of 2 replicas (PostgreSQL, fleet budget).
# Usage: scripts/bench-fleet.sh ROUTER [RATES] [SECONDS]   (release build at .build/release/catimage, or $CATIMAGE)
# Needs PostgreSQL at $CATIMAGE_TEST_POSTGRES (scripts/cluster.sh postgres-start) and Debian's nginx.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
router="$1"
rates="${2:-50,100,150,200}"
seconds="${3:-10}"
binary="${CATIMAGE:-$root/.build/release/catimage}"
: "${CATIMAGE_TEST_POSTGRES:?start PostgreSQL: export \$(scripts/cluster.sh postgres-start | tail -1)}"
pg_host="${CATIMAGE_TEST_POSTGRES%:*}"
pg_port="${CATIMAGE_TEST_POSTGRES##*:}"
work="$(mktemp -d /tmp/catimage-bench-fleet.XXXXXX)"
export CATIMAGE_CLUSTER_DIR="$work/cluster"
trap '"$root/scripts/cluster.sh" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

generators="$("$binary" route --router "$router" --json x 2>/dev/null | python3 -c '
import json, sys
for c in json.load(sys.stdin)["candidates"]:
    print("  %s: {backend: a1111, base_url: \"http://127.0.0.1:9\"}" % c["generator"])')"
config() {  # config FILE LOG-LINE
    printf 'router: %s\nbudget: {target_mean_cost: 0.3}\n%s\ngenerators:\n%s\n' "$router" "$2" "$generators" >"$1"
}
database() {  # a fresh database per run
    local name="bench_$(date +%s%N)"
    psql -h "$pg_host" -p "$pg_port" -U catimage -d postgres -qc "CREATE DATABASE $name" >/dev/null
    echo "$name"
}
bench() {  # bench LABEL URL
    echo "== $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "$binary" bench gateway --url "$2" --rates "$rates" --duration "$seconds" --warmup 5
}
serve_one() {  # serve_one CONFIG PORT
    "$binary" serve --config "$1" --port "$2" --log-level error >"$work/serve.log" 2>&1 &
    echo $! >"$work/serve.pid"
    for _ in $(seq 300); do grep -q listening "$work/serve.log" && return; sleep 0.2; done
    cat "$work/serve.log" >&2
    exit 1
}
stop_one() { kill "$(cat "$work/serve.pid")"; wait "$(cat "$work/serve.pid")" 2>/dev/null || true; }

config "$work/sqlite.yaml" "log: {path: $work/decisions.sqlite, synchronous: normal}"
serve_one "$work/sqlite.yaml" 18601
bench "one replica, SQLite log, direct" http://127.0.0.1:18601
stop_one

config "$work/pg.yaml" "log: {postgres: {host: $pg_host, port: $pg_port, database: $(database), user: catimage}}"
serve_one "$work/pg.yaml" 18602
bench "one replica, PostgreSQL log, direct" http://127.0.0.1:18602
stop_one

for n in 1 2; do
    config "$work/fleet-$n.yaml" "log: {postgres: {host: $pg_host, port: $pg_port, database: $(database), \
user: catimage, fleet_budget: true}}"
    "$root/scripts/cluster.sh" start --config "$work/fleet-$n.yaml" --replicas "$n" --port 18610 --binary "$binary" \
        >/dev/null
    bench "nginx + $n replica(s), PostgreSQL log, fleet budget" http://127.0.0.1:18610
    "$root/scripts/cluster.sh" stop >/dev/null
done
