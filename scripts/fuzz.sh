#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, no LibTorch) in
# ${OPENAMCT_FUZZ_BUILD_DIR:-build-fuzz} and runs each one for a bounded
# number of executions: first every input kept in fuzz/regressions/<target>/,
# then RUNS executions (default 10000) starting from the seed corpus
# fuzz/corpus/<target>/. Exits non-zero on the first finding; the input that
# caused it is left in <build dir>/artifacts/<target>/.
#
#   scripts/fuzz.sh [RUNS] [extra libFuzzer flags...]
#
# New inputs found along the way go to <build dir>/corpus/<target>/, never into
# the repository. fuzz/README.md says how to fuzz for hours.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS=${1:-10000}
shift || true
BUILD=${OPENAMCT_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
TARGETS=(simple_config json_writer config_reader record_text onnx_passes)
# fuzz_algorithms needs LibTorch (setup.sh installs it); OPENAMCT_FUZZ_ALGORITHMS=0
# leaves it out, for a quick run of the torch-free targets only.
ALGORITHMS=ON
if [ "${OPENAMCT_FUZZ_ALGORITHMS:-1}" = 0 ]; then ALGORITHMS=OFF; else TARGETS+=(algorithms); fi

"$ROOT/scripts/setup.sh"
cmake -S "$ROOT/fuzz" -B "$BUILD" -DCMAKE_CXX_COMPILER=clang++ \
  -DOPENAMCT_FUZZ_ALGORITHMS="$ALGORITHMS" >/dev/null
cmake --build "$BUILD" -j"${OPENAMCT_FUZZ_JOBS:-$(nproc)}"

for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/fuzz_$t"
  shopt -s nullglob
  regressions=("$ROOT/fuzz/regressions/$t"/*)
  shopt -u nullglob
  if [ ${#regressions[@]} -gt 0 ]; then
    echo "fuzz: $t: ${#regressions[@]} regression inputs"
    "$bin" "${regressions[@]}" 2>"$BUILD/regressions-$t.log" || {
      cat "$BUILD/regressions-$t.log"
      echo "fuzz: $t: a regression input fails again" >&2
      exit 1
    }
  fi

  mkdir -p "$BUILD/corpus/$t" "$BUILD/artifacts/$t"
  dict=()
  [ -f "$ROOT/fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
  echo "fuzz: $t: $RUNS runs"
  "$bin" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/$t/" "${dict[@]}" "$@" \
    "$BUILD/corpus/$t" "$ROOT/fuzz/corpus/$t" 2>"$BUILD/fuzz-$t.log" || {
    tail -n 60 "$BUILD/fuzz-$t.log"
    echo "fuzz: $t: finding; the input is in $BUILD/artifacts/$t/" >&2
    exit 1
  }
  grep -E '^(Done|stat::number_of_executed_units)' "$BUILD/fuzz-$t.log" | sed "s/^/fuzz: $t: /"
done
echo "fuzz: no finding"
