// The per-layer quantisation parameters that the deploy and fake-quant passes
// consume: one entry per record-file entry, in record order. A plain struct so
// that the ONNX passes depend on no record-file reader; the flow converts the
// parsed ScaleOffsetRecord into these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace openamct {
namespace onnx_passes {

struct LayerQuantParams {
  std::string layer;                         // module name = node name in the modified ONNX
  float scale_d = 1.0f;                      // activation scale
  int32_t offset_d = 0;                      // activation offset
  std::vector<float> scale_w;                // per output channel, or one value per tensor
  std::vector<int32_t> offset_w;             // same length as scale_w (0 in PTQ)
  std::vector<float> tensor_balance_factor;  // DMQ factors s per input channel; empty: no DMQ
  int act_bits = 8;                          // from act_type "INT<b>"
  int wts_bits = 8;                          // from wts_type "INT<b>"
  bool has_weight = true;                    // false for AvgPool2d (no wts_type)
  // LSTM / GRU (spec §15): scale_w / offset_w are W's (input) factors per row,
  // these R's (recurrent) and the hidden state's; all rows in ONNX gate order.
  bool is_rnn = false;
  float scale_h = 1.0f;
  int32_t offset_h = 0;
  std::vector<float> scale_r;
  std::vector<int32_t> offset_r;
};

// An output quantizer of the qdq_full model (qdq_full_pass.h): the output of
// `layer` (node name) with scale `scale` and int8 zero point `offset`.
struct OutputQuantParams {
  std::string layer;
  float scale = 1.0f;
  int32_t offset = 0;
};

}  // namespace onnx_passes
}  // namespace openamct
