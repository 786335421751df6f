#!/usr/bin/env bash
# Sets up, builds, and runs the main job on the bundled default model:
# torchvision's ResNet-18 with random weights (no download). Prints the layer
# table and writes resnet18_quant_config.json in the current folder.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh"
PYTHONPATH="$ROOT/${OPENAMCT_BUILD_DIR:-build}/python" /usr/bin/python3 "$ROOT/scripts/default_model.py" "$@"
