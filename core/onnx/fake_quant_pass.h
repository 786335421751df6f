// The fake-quant model (spec §12.4): the deploy graph with every AscendQuant
// turned into Mul → Round → Add → Clip → Sub, the integer weights and biases
// stored as float32, and every AscendDequant turned into a Mul by the float32
// dequant scale, so that any ONNX runtime evaluates the quantised model.
#pragma once

#include <onnx/onnx_pb.h>

#include <vector>

#include "onnx/quant_params.h"

namespace openamct {
namespace onnx_passes {

// `g` is the graph make_deploy_graph returned, in file order (order_nodes),
// op_data_type still present.
void make_fake_quant_graph(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers);

}  // namespace onnx_passes
}  // namespace openamct
