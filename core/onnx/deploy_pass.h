// The deploy model (spec §12.3): from the modified ONNX and the per-layer
// quantisation parameters, AscendQuant / int8 weights / int32 biases /
// AscendDequant, in the reference's pass order (Gemm transB → DMQ → quant →
// weight quant → dequant → bias quant → quant fusion). op_data_type stays on
// the nodes: the fake-quant pass starts from this graph and needs it; the
// writer strips it (strip_op_data_type).
#pragma once

#include <onnx/onnx_pb.h>

#include <vector>

#include "onnx/quant_params.h"

namespace openamct {
namespace onnx_passes {

// Edits the modified model in place into the deploy graph (node list not yet
// ordered). Throws RuntimeError naming the layer for a layer without a node, a
// weight of an unexpected kind, or a bias outside int32 ("Do bias quantize
// failed.").
void make_deploy_graph(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers);

// Removes every op_data_type attribute.
void strip_op_data_type(onnx::GraphProto* g);

// Where a layer's quantised weight sits and how its output channels are laid
// out; shared with the fake-quant pass.
struct WeightSite {
  std::string weight;  // initializer name ("" for AveragePool)
  std::string bias;    // initializer name or ""
  int rank = 0;        // weight rank (0 for AveragePool)
};
WeightSite weight_site(const onnx::GraphProto& g, const std::string& layer);

}  // namespace onnx_passes
}  // namespace openamct
