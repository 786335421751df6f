#!/usr/bin/env bash
# Builds OpenAMCT (if needed) and runs the speed-and-scale benchmark: prints the
# table and writes bench/results.json. Arguments go to bench.py (--runs N, --out F).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/build.sh" >/dev/null
OPENAMCT_BUILD_DIR="$ROOT/${OPENAMCT_BUILD_DIR:-build}" exec /usr/bin/python3 "$ROOT/bench/bench.py" "$@"
