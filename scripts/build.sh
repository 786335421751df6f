#!/usr/bin/env bash
# Configures and builds OpenAMCT into ${OPENAMCT_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${OPENAMCT_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DPYTHON_EXECUTABLE=/usr/bin/python3 "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
