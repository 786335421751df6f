#!/usr/bin/env bash
# Sets up, builds, and runs every test: the GoogleTest suite, the pytest suite
# and the shared conformance suite (from pytest), all through ctest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh"
cd "$ROOT/${OPENAMCT_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" "$@"
