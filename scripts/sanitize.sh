#!/usr/bin/env bash
# Builds the core, the CLI and the GoogleTest suite with AddressSanitizer and
# UndefinedBehaviorSanitizer (-DOPENAMCT_SANITIZE=ON, no Python extension) in
# ${OPENAMCT_ASAN_BUILD_DIR:-build-asan} and runs the suite. Any sanitizer
# report fails the run. Extra arguments go to the test binary, e.g.
#   scripts/sanitize.sh --gtest_filter='BadInput.*'
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD=${OPENAMCT_ASAN_BUILD_DIR:-$ROOT/build-asan}

"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DOPENAMCT_SANITIZE=ON -DOPENAMCT_BUILD_PYTHON=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYTHON_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build "$BUILD" -j"${OPENAMCT_ASAN_JOBS:-$(nproc)}"

# No suppression is needed: Debian's LibTorch 1.13 loads and runs under
# ASan/LSan/UBSan without a report (its static initialisers leak nothing LSan
# can see, and no new/delete mismatch crosses into our code). Should a
# LibTorch update need one, add it to a suppressions file here, narrowly (one
# function of libtorch*, never a whole library of ours), with the reason.
#
# halt_on_error / abort_on_error: the first report fails the run.
# detect_leaks: LeakSanitizer checks at exit.
# detect_stack_use_after_return, check_initialization_order,
# strict_string_checks: the checks ASan leaves off by default.
# UBSan: print a stack and stop at the first report (the build also passes
# -fno-sanitize-recover=undefined).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
"$BUILD/openamct_tests" "$@"
