#!/usr/bin/env bash
# Sets up, builds, and runs every test:
#   1. ctest: the GoogleTest suite, the pytest suite (with the shared
#      conformance suite) and the CMake-package test;
#   2. the GoogleTest suite and the Python tests of the extension's C++ again,
#      built with ASan + UBSan (scripts/sanitize.sh);
#   3. each libFuzzer target for a bounded number of executions, after its
#      regression inputs (scripts/fuzz.sh; OPENAMCT_FUZZ_RUNS, default 20000).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh"
(cd "$ROOT/${OPENAMCT_BUILD_DIR:-build}" && ctest --output-on-failure -j"$(nproc)" "$@")
echo "== sanitizers (ASan + UBSan)"
"$ROOT/scripts/sanitize.sh" --gtest_brief=1
echo "== fuzzing (bounded)"
"$ROOT/scripts/fuzz.sh" "${OPENAMCT_FUZZ_RUNS:-20000}"
