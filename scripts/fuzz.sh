#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Fuzz/ (address sanitizer on) and runs one, or each, for a while.
#
#   scripts/fuzz.sh                    # every target, 60 s each
#   scripts/fuzz.sh FuzzCSV 600        # one target, 10 minutes
#
# Seeds come from ../shared at run time (never copied into the repo): dataset CSV prefixes, the MiniLM
# tokenizer.json (CATIMAGE_MODEL_DIR or ~/.cache/catimage/models/all-MiniLM-L6-v2), small files written by the
# seed step. Corpora and crash files go to $CATIMAGE_FUZZ_DIR (default /tmp/catimage-fuzz). Every crash found
# must become a seed of the replay suite (Tests/CATImageGatewayTests/FuzzReplay) and a regression test.
# Not run in CI (too slow); CI runs the replay suite.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
targets=(FuzzCSV FuzzSafetensors FuzzNumpy FuzzTokenizer FuzzRouterFile FuzzGatewayConfig FuzzRequestBody)
if [[ $# -ge 1 && "$1" != "all" ]]; then targets=("$1"); fi
seconds="${2:-60}"
shared="${CATIMAGE_SHARED:-$root/../shared}"
model="${CATIMAGE_MODEL_DIR:-$HOME/.cache/catimage/models/all-MiniLM-L6-v2}"
work="${CATIMAGE_FUZZ_DIR:-/tmp/catimage-fuzz}"
export CATIMAGE_MODEL_DIR="$model"
# Foundation's Data(contentsOf:) leaks a 4 KiB buffer on an empty file: no leak checks, in libFuzzer or at exit.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

seed() {
    local target="$1" corpus="$2"
    mkdir -p "$corpus"
    case "$target" in
    FuzzCSV)
        head -c 4096 "$shared/datasets/evalmi50k/evalmi50k_long.csv" >"$corpus/evalmi.csv"
        head -c 4096 "$shared/datasets/cems/clip_score_with_time_SD-Turbo.csv" >"$corpus/cems.csv"
        printf 'generator,cost\nSD-Turbo,0.142\nTAESD,1.56\n' >"$corpus/costs.csv"
        ;;
    FuzzSafetensors | FuzzRouterFile)
        # The header of the MiniLM weights (length, JSON) and its first tensor bytes.
        head -c 65536 "$model/model.safetensors" >"$corpus/minilm-head.safetensors"
        python3 - "$corpus/small.safetensors" <<'PY'
import json, struct, sys
header = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
          "__metadata__": {"format": "catimage-router", "version": "1"}}
blob = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(blob)) + blob + struct.pack("<4f", 1, 2, 3, 4))
PY
        ;;
    FuzzNumpy)
        python3 - "$corpus/m.npy" <<'PY'
import struct, sys
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<6f", *range(6)))
PY
        ;;
    FuzzTokenizer)
        { printf '\x00'; cat "$model/tokenizer.json"; } >"$corpus/tokenizer.json"
        python3 - "$shared/golden/prompts.json" "$corpus" <<'PY'
import json, sys
for i, prompt in enumerate(json.load(open(sys.argv[1]))[:50]):
    open(f"{sys.argv[2]}/prompt-{i}", "wb").write(b"\x01" + prompt.encode())
PY
        ;;
    FuzzGatewayConfig)
        # The commented example config (first byte: the mode) and a small one, from the gateway itself.
        { printf '\x01'; "$root/.build/debug/catimage" serve --example-config 2>/dev/null || true; } >"$corpus/example.yaml"
        printf '\x00router: r.catimage\ngenerators:\n  a:\n    backend: a1111\n    base_url: http://127.0.0.1:7860\n' \
            >"$corpus/small.yaml"
        ;;
    FuzzRequestBody)
        printf '\x00{"prompt": "a red car in the rain", "lambda": 0.5}' >"$corpus/route.json"
        printf '\x01{"prompt": "a cat", "model": "auto", "n": 1, "size": "512x512", "response_format": "b64_json"}' \
            >"$corpus/images.json"
        python3 - "$shared/golden/prompts.json" "$corpus" <<'PY'
import json, sys
for i, prompt in enumerate(json.load(open(sys.argv[1]))[:20]):
    open(f"{sys.argv[2]}/prompt-{i}.json", "wb").write(bytes([i % 2]) + json.dumps({"prompt": prompt}).encode())
PY
        ;;
    esac
}

cd "$root/Fuzz"
for target in "${targets[@]}"; do
    echo "== $target: building with -sanitize=fuzzer,address"
    swift build -c debug -Xswiftc -sanitize=fuzzer,address --product "$target" 2>&1 | grep -v 'ld.gold: warning' | tail -3
    binary="$(swift build -c debug --show-bin-path)/$target"
    corpus="$work/$target/corpus"
    crashes="$work/$target/crashes"
    mkdir -p "$crashes"
    [[ -d "$corpus" ]] || seed "$target" "$corpus"
    echo "== $target: fuzzing for $seconds s (corpus $corpus, crashes in $crashes)"
    # Leak detection is off: Foundation's Data(contentsOf:) leaks a 4 KiB buffer on an empty file (seen with
    # FuzzNumpy), which would stop every run at its first empty input.
    "$binary" "$corpus" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=1048576 -detect_leaks=0 \
        -artifact_prefix="$crashes/" -print_final_stats=1 >"$work/$target/last-run.log" 2>&1 || status=$?
    # Coverage at the start (the corpus) and the end, the run's statistics and any finding; the whole output is in
    # last-run.log.
    grep -E "INITED|DONE|^stat::|ERROR|SUMMARY|Test unit written|deadly signal" "$work/$target/last-run.log" || true
    if [[ "${status:-0}" -ne 0 ]]; then
        echo "== $target: the fuzzer stopped with status $status (see $work/$target/last-run.log)" >&2
        exit "$status"
    fi
done
