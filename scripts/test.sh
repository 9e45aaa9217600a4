#!/usr/bin/env bash
# Runs every test of CATImage on a fresh machine: installs the system libraries, builds, fetches the MiniLM
# weights (once, into ~/.cache/catimage or $CATIMAGE_MODEL_DIR) and runs `swift test`.
# Usage: scripts/test.sh [extra swift test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "==> building (debug)"
swift build --build-tests
echo "==> fetching the MiniLM weights (skipped when already there and verified)"
.build/debug/catimage model fetch
echo "==> running the tests"
swift test --skip-build "$@"
