// The QDQ model (`<prefix>_qdq_model.onnx`): the deploy graph written in
// standard ONNX (opset 13) so that any runtime, not only Ascend's compiler,
// runs the quantised model, and runtimes that fuse QDQ patterns (ONNX
// Runtime's DQ → Conv → Q into QLinearConv) run it in integer arithmetic.
// It is the deploy graph with the same integers: AscendQuant becomes
// QuantizeLinear → DequantizeLinear (scale_d, int8 zero point offset_d), each
// int8 weight and int32 bias gets a DequantizeLinear (per output channel), and
// AscendDequant disappears because the layer already computes in real units.
#pragma once

#include <onnx/onnx_pb.h>

#include <vector>

#include "onnx/quant_params.h"

namespace openamct {
namespace onnx_passes {

// `g` is make_deploy_graph's result in file order (order_nodes), op_data_type
// still present. Throws RuntimeError naming the layer for what QDQ cannot
// express at opset 13: activations other than INT8, float16 layers.
void make_qdq_graph(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers);

// Every QuantizeLinear's zero point (and so its DequantizeLinears') becomes
// uint8 offset_d + 128: the same integers shifted by 128, so the model computes
// exactly what it computed with int8, in the type ONNX Runtime's x86 kernels
// take (it converts a Q/DQ pair to uint8 itself only when the Q has one reader).
// Weights stay int8.
void use_uint8_activations(onnx::GraphProto* g);

// Runs onnx::checker and strict shape inference on `m`; RuntimeError with
// their message (a bug in OpenAMCT unless the modified ONNX was hand-edited).
void check_qdq_model(const onnx::ModelProto& m);

}  // namespace onnx_passes
}  // namespace openamct
