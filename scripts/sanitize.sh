#!/usr/bin/env bash
# Builds the core, the CLI, the Python extension and the GoogleTest suite with
# AddressSanitizer and UndefinedBehaviorSanitizer (-DOPENAMCT_SANITIZE=ON) in
# ${OPENAMCT_ASAN_BUILD_DIR:-build-asan} (-O1 -g1: see CMakeLists.txt), then runs
# the suite and the Python tests that drive the extension's own C++, side by
# side. Any sanitizer report fails the run.
# Extra arguments go to the test binary, e.g.
#   scripts/sanitize.sh --gtest_filter='BadInput.*'
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD=${OPENAMCT_ASAN_BUILD_DIR:-$ROOT/build-asan}

"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -DOPENAMCT_SANITIZE=ON -DOPENAMCT_BUILD_PYTHON=ON \
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
# Three single-threaded runs side by side, so that both cores work (they took
# 450 s one after the other): the GoogleTest suite, and the Python tests of
# the extension's C++ in two groups of about equal time. Each writes its own
# log; a failing run's log is printed whole.
#
# The Python tests: the extension's C++ (bindings/python: the meta shadow, the
# static facts and the algorithms, written against CPython's C API, reference
# counts and all) under the same sanitizers. Python itself is not
# instrumented, so the sanitizer runtimes are preloaded; LeakSanitizer is off
# there because CPython keeps objects alive until exit by design. The one
# bias-correction case that runs ONNX Runtime is left out: it starts Node, and
# the preloaded runtimes would go into that process too.
CXX_BIN=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
PRELOAD="$("$CXX_BIN" -print-file-name=libasan.so) $("$CXX_BIN" -print-file-name=libubsan.so)"
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
sanitized_pytest() {
  (cd "$ROOT/tests/python" &&
    LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
    PYTHONPATH="$BUILD/python" OPENAMCT_BUILD_DIR="$BUILD" OPENAMCT_CLI="$BUILD/bin/openamct" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider "$@")
}
names=(gtest "python: ONNX passes, RNN flow" "python: capture, API, bad input, algorithms, bias correction, Hessian rounding")
"$BUILD/openamct_tests" "$@" >"$LOGS/0" 2>&1 &
pids=($!)
sanitized_pytest test_onnx_passes.py test_rnn_flow.py -k "not onnx_runtime" >"$LOGS/1" 2>&1 &
pids+=($!)
sanitized_pytest test_capture_paths.py test_api.py test_interfaces.py test_bad_input.py \
  test_algorithms.py test_bias_correction.py test_hessian_rounding.py \
  --deselect test_bias_correction.py::test_fake_quant_model_carries_the_correction \
  >"$LOGS/2" 2>&1 &
pids+=($!)
failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "== sanitized ${names[$i]}: $(grep -E 'PASSED|passed' "$LOGS/$i" | tail -n 1)"
  else
    echo "== sanitized ${names[$i]} FAILED:"
    cat "$LOGS/$i"
    failed=1
  fi
done
exit $failed
