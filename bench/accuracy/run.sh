#!/usr/bin/env bash
# The accuracy bench (not part of CI): bench/accuracy/run.sh [--quick] [--json out.json]
# Needs bench/accuracy/setup.sh once and a build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHONPATH=build/python${PYTHONPATH:+:$PYTHONPATH} exec /usr/bin/python3 bench/accuracy/accuracy.py "$@"
