#!/usr/bin/env bash
# The encoder-precision figures (README, "Measured performance"): for fp32 (the default) and bf16
# (CATIMAGE_ENCODER_PRECISION=bf16), in one run on this machine:
#   1. the encoder against the ONNX Runtime anchor (../shared/anchors/compare-encoder.sh, two rounds);
#   2. one routing decision stage by stage (catimage bench route);
#   3. a gateway serving the router, at fixed request rates (catimage bench gateway, SQLite decision log).
# Usage: scripts/bench-precision.sh ROUTER [RATES] [SECONDS]   (release build at .build/release/catimage, or $CATIMAGE)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
router="$1"
rates="${2:-50,100,150,200}"
seconds="${3:-10}"
binary="${CATIMAGE:-$root/.build/release/catimage}"
work="$(mktemp -d /tmp/catimage-bench-precision.XXXXXX)"
trap 'kill "$(cat "$work/serve.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; flags: $(grep -o -w -E \
'avx2|avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"

generators="$("$binary" route --router "$router" --json x 2>/dev/null | python3 -c '
import json, sys
for c in json.load(sys.stdin)["candidates"]:
    print("  %s: {backend: a1111, base_url: \"http://127.0.0.1:9\"}" % c["generator"])')"
printf 'router: %s\nbudget: {target_mean_cost: 0.3}\nlog: {path: %s, synchronous: normal}\ngenerators:\n%s\n' \
    "$router" "$work/decisions.sqlite" "$generators" >"$work/gateway.yaml"

for precision in fp32 bf16; do
    export CATIMAGE_ENCODER_PRECISION=$precision
    echo "===== precision $precision"
    echo "== encoder vs ONNX Runtime"
    "$root/../shared/anchors/compare-encoder.sh" "$binary" | grep -v '^{'
    echo "== bench route (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "$binary" bench route --router "$router"
    echo "== bench gateway (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    rm -f "$work/decisions.sqlite"*
    "$binary" serve --config "$work/gateway.yaml" --port 18620 --log-level error >"$work/serve.log" 2>&1 &
    echo $! >"$work/serve.pid"
    for _ in $(seq 300); do grep -q listening "$work/serve.log" && break; sleep 0.2; done
    grep -q listening "$work/serve.log" || { cat "$work/serve.log" >&2; exit 1; }
    "$binary" bench gateway --url http://127.0.0.1:18620 --rates "$rates" --duration "$seconds" --warmup 5
    kill "$(cat "$work/serve.pid")"
    wait "$(cat "$work/serve.pid")" 2>/dev/null || true
done
