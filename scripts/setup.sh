#!/usr/bin/env bash
# Installs what CATImage needs on a fresh Debian machine with Swift: the system libraries (OpenBLAS for matrix
# math, SQLite for the gateway's decision log, Chromium for the test that renders the HTML report in a headless
# browser) and, with --model, the MiniLM weights.
# Usage: scripts/setup.sh [--model]
set -euo pipefail

packages=(libopenblas-dev pkg-config libsqlite3-dev unzip chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "==> installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
