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
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
