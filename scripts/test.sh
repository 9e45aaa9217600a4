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
# OpenBLAS 0.3.21 runs its slow generic (Prescott) kernels on CPUs it does not recognise; the catimage binary
# restarts itself onto the family the CPU supports (BLASKernels), and the test processes get the same family here.
if [ -z "${OPENBLAS_CORETYPE+x}" ]; then
    OPENBLAS_CORETYPE=$(.build/debug/catimage model info --json | sed -n 's/.*"blasKernels" *: *"\([A-Za-z0-9]*\)".*/\1/p')
    export OPENBLAS_CORETYPE
    echo "OpenBLAS kernels: ${OPENBLAS_CORETYPE:-as detected}"
fi
echo "==> running the tests"
swift test --skip-build "$@"
