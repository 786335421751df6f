// The "qdq_full" model (`<prefix>_qdq_full_model.onnx`, an opt-in beyond the
// QDQ model): the QDQ graph plus the quantizers a runtime needs to run every
// residual Add and every layer that feeds one in int8. The record holds scales
// for layer inputs only, so a layer whose output goes to an Add (ResNet's last
// conv of a block and its downsample conv) has no QuantizeLinear after it, and
// ONNX Runtime runs it in float. Here:
//
// * each such layer's output gets `QuantizeLinear <layer>.output_quant` with
//   the scale and offset calibrated on that output (quantize_model with
//   qdq_full=True; the record's sidecar, flow/output_scales.h), and the Add
//   reads it through `DequantizeLinear <add>.input<k>_dequant`;
// * every other input of a residual Add that some QuantizeLinear already
//   quantizes (the block input, quantized for the next layer) is read through a
//   DequantizeLinear of that QuantizeLinear, so the float tensor keeps only
//   quantizers as readers (ORT then folds a Relu into the QuantizeLinear after it,
//   and fuses DQ, DQ → Add → Q into QLinearAdd).
//
// Unlike the QDQ model this changes what the model computes (the Add's inputs
// are rounded to int8); its outputs are not the fake-quant model's.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "onnx/quant_params.h"

namespace openamct {
namespace onnx_passes {

// True for an Add of two activations (neither input an initializer or a Constant).
bool is_residual_add(const onnx::GraphProto& g, const onnx::NodeProto& n);

// Of `layers` (node names), those whose first output some residual Add reads,
// in `layers` order: the outputs the qdq_full model quantizes. Works on the
// modified ONNX (calibration) and on the QDQ graph (saving) alike.
std::vector<std::string> residual_output_layers(const onnx::GraphProto& g,
                                                const std::vector<std::string>& layers);

// `g` is make_qdq_graph's result. RuntimeError naming the layer when
// `outputs` lacks one residual_output_layers asks for (a record calibrated
// without qdq_full, or for another model).
void make_qdq_full_graph(onnx::GraphProto* g, const std::vector<std::string>& layers,
                         const std::vector<OutputQuantParams>& outputs);

}  // namespace onnx_passes
}  // namespace openamct
