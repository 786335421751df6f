// The link check of the torch-free layers (openamct_text, openamct_config,
// openamct_record, openamct_onnx):
// this program links their every object file and nothing of LibTorch, so a
// call from those layers into torch or ATen is an undefined symbol and the
// build fails. Running it checks one round trip through both layers.
#include "config/quant_config.h"

int main() {
  openamct::QuantConfig config;
  return openamct::to_config_text(config).empty() ? 1 : 0;
}
