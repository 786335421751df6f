#!/usr/bin/env bash
# Installs the Debian 12 packages OpenAMCT needs; does nothing when they are
# all present. Runs `apt-get update` once, and only when something is missing.
set -euo pipefail

PACKAGES=(
  g++ make cmake git
  libtorch-dev python3-torch python3-torchvision
  pybind11-dev libprotobuf-dev protobuf-compiler nlohmann-json3-dev
  libonnx-dev python3-onnx   # ONNX graph passes (core/onnx) and their tests
  libgtest-dev python3-pytest
  clang libclang-rt-14-dev   # libFuzzer targets (scripts/fuzz.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -ne 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for the QDQ model's tests and bench/qdq.py: onnxruntime-node,
# pinned by tests/ort/package-lock.json, into tests/ort/node_modules (ignored
# by git). --ignore-scripts: its post-install step fetches GPU extras from a
# host these machines cannot reach; the CPU library ships in the package.
ORT_DIR="$(dirname "$0")/../tests/ort"
if [ ! -d "$ORT_DIR/node_modules/onnxruntime-node" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "setup: installing onnxruntime-node into tests/ort/node_modules"
    (cd "$ORT_DIR" && npm ci --ignore-scripts --no-audit --no-fund)
  else
    echo "setup: npm not found (Node 20 is needed); the QDQ runtime tests will be skipped"
  fi
fi
