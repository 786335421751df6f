// Fuzz target: the ONNX graph passes (core/onnx) on arbitrary model bytes, as
// save_model meets a modified ONNX file it did not write. The input is parsed
// as a ModelProto; when it parses, the modified pass runs on it (no marker
// spec), then the deploy and fake-quant passes with one per-tensor layer
// entry per Conv / ConvTranspose / Gemm / MatMul / AveragePool node. A damaged
// graph must end in an openamct::Error, never a crash, a sanitizer report or
// an unbounded allocation; a graph that passes must serialise.
#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "onnx/modified_pass.h"
#include "onnx/onnx_files.h"
#include "openamct/errors.h"

namespace op = openamct::onnx_passes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (model.graph().node_size() > 200) return 0;  // the passes are quadratic by design
  try {
    op::make_modified_model(&model, op::ModifiedOnnxSpec{});
  } catch (const openamct::Error&) {
    return 0;
  }
  static const std::set<std::string> kLayerOps = {"Conv", "ConvTranspose", "Gemm", "MatMul",
                                                  "AveragePool"};
  std::vector<op::LayerQuantParams> layers;
  std::set<std::string> seen;
  for (const auto& n : model.graph().node()) {
    if (!kLayerOps.count(n.op_type()) || !seen.insert(n.name()).second) continue;
    op::LayerQuantParams p;
    p.layer = n.name();
    p.scale_d = 0.05f;
    p.offset_d = -3;
    p.scale_w = {0.01f};
    p.offset_w = {0};
    p.has_weight = n.op_type() != "AveragePool";
    if (layers.size() % 2 == 1) p.tensor_balance_factor = {0.5f, 2.0f};
    layers.push_back(p);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return 0;
  try {
    op::saved_model_bytes(bytes, layers);
  } catch (const openamct::Error&) {
  }
  try {
    op::qdq_model_bytes(bytes, layers);  // opset upgrade, QDQ rewrite, checker
  } catch (const openamct::Error&) {
  }
  return 0;
}
