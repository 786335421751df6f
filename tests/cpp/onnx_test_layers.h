// Quantisation parameters shared by the ONNX pass tests: the one-Conv graph
// both test files build ("c": 2 output channels, weights {0.5, -1}, biases
// {0.25, 3}) quantised with an asymmetric activation and per-channel weights.
#pragma once

#include "onnx/quant_params.h"

namespace openamct::onnx_passes::test {

inline LayerQuantParams conv_params() {
  LayerQuantParams p;
  p.layer = "c";
  p.scale_d = 0.1f;
  p.offset_d = -3;
  p.scale_w = {0.01f, 0.02f};
  p.offset_w = {0, 0};
  return p;
}

}  // namespace openamct::onnx_passes::test
