#!/usr/bin/env bash
# The main job of CATImage, end to end on real data, on a fresh Debian machine with Swift:
#   installs OpenBLAS/SQLite, builds the release binary, fetches the MiniLM weights and the CEMS dataset,
#   evaluates every estimator with 5-fold cross-validation (table + HTML report + SVG plot),
#   trains a router calibrated to a cost budget, and routes a few example prompts.
# Usage: scripts/study.sh            (outputs in ./out, override with CATIMAGE_OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CATIMAGE_OUT:-out}
mkdir -p "$out"

scripts/setup.sh
echo "==> building catimage (release)"
swift build -c release --product catimage 2>&1 | grep -E "error|warning: unre|Compiling catimage|Build" || true
bin=.build/release/catimage
[ -x "$bin" ] || { echo "release build failed" >&2; exit 1; }

echo "==> MiniLM weights"
"$bin" model fetch

echo "==> CEMS dataset"
mirror=()
if [ -n "${CATIMAGE_DATASETS:-}" ]; then
    mirror=(--mirror "$CATIMAGE_DATASETS")
elif [ -d ../shared/datasets/cems ]; then
    mirror=(--mirror ../shared/datasets)
fi
data_root=${CATIMAGE_DATA_DIR:-$HOME/.cache/catimage/datasets}
"$bin" dataset fetch cems --into "$data_root" "${mirror[@]}"
cems="$data_root/cems"

echo "==> the data"
"$bin" dataset inspect --cems "$cems" --metric clip

echo "==> evaluation: 5-fold cross-validation of every estimator (CLIPScore, cost = measured seconds)"
"$bin" evaluate --cems "$cems" --metric clip --folds 5 \
    --estimator "${CATIMAGE_ESTIMATORS:-mean,knn:k=50,knn:k=200,ridge:alpha=10,mlp,kernel:tau=0.05,krr,lexical,kernel:tau=0.05+ridge:alpha=10,kernel:tau=0.05+ridge:alpha=10+lexical,kernel:tau=0.05+krr+lexical,krr:layer=4,kernel:tau=0.05+krr+lexical+krr:layer=4}" \
    --html "$out/report.html" --svg "$out/curves.svg" --curve-csv "$out/curves.csv"
echo "report: $out/report.html, plot: $out/curves.svg"

echo "==> training a router held to a mean cost of 0.30 s per image"
"$bin" train --cems "$cems" --metric clip --estimator "kernel:tau=0.05+krr+lexical+krr:layer=4" --budget 0.30 \
    -o "$out/router.catimage"

echo "==> its decision time, one prompt at a time"
"$bin" bench route --router "$out/router.catimage" --cems "$cems"

echo "==> routing example prompts"
"$bin" route --router "$out/router.catimage" \
    "a white and empty wall" \
    "a colorful park with a crowd of people flying kites at sunset" \
    "a photo of a cat" \
    "an intricate steampunk city with airships, highly detailed, 8k"
