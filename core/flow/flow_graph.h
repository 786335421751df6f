// What the calibration flow reads from, and writes into, the exported ONNX
// graph once its nodes carry module names (onnx/modified_pass.h
// name_exported_model): the Conv+BN pairs that spec §5 fuses, the layers a
// record file may name (§11.4), and the calibration weights written into the
// initializers of the modified ONNX (§8.3, §12.2).
#pragma once

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "record/record_validation.h"

namespace openamct {
namespace flow {

struct ConvBnPair {
  std::string conv;  // module names
  std::string bn;
};

// BatchNormalization nodes whose data input is the output of a Conv node that
// feeds nothing else (and is no graph output), in node order. Module names
// come from the weight initializers (`<m>.sub_module.weight` or `<m>.weight`).
std::vector<ConvBnPair> find_conv_bn_pairs(const onnx::GraphProto& g);

// The activation AdaRound pairs with a layer (§10): the single consumer of the
// layer's output (after the bias Add of a Linear exported as MatMul, K9) when
// it is Relu, Sigmoid, Tanh, LeakyRelu (RReLU exports as one), PRelu,
// Clip(0, 6) (ReLU6), or the erf / tanh GELU subgraph; kind "" otherwise.
struct FollowingActivation {
  std::string kind;           // "", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "PRelu", "Relu6",
                              // "GeluErf", "GeluTanh"
  double alpha = 0.01;        // LeakyRelu
  std::vector<float> slope;   // PRelu, flattened
};
FollowingActivation following_activation(const onnx::GraphProto& g, const std::string& layer);
// The index of the node named `layer` (its graph order), or -1.
int node_position(const onnx::GraphProto& g, const std::string& layer);

// Every node, with whether a record entry may name it (§11.4).
std::vector<RecordGraphLayer> record_graph_layers(const onnx::GraphProto& g);

// The name of the initializer of `<layer>.<param>` (`<layer>.sub_module.<param>`
// for a marked module), or "" when the graph has neither.
std::string parameter_initializer(const onnx::GraphProto& g, const std::string& layer,
                                  const std::string& param);

// Writes `value` (float32 or float16) into the initializer of `<layer>.<param>`
// (`<layer>.sub_module.<param>` for a marked module). A Linear weight that the
// exporter folded into a transposed constant of the layer's MatMul node is
// written transposed. RuntimeError naming the layer when there is none.
void write_parameter(onnx::GraphProto* g, const std::string& layer, const std::string& param,
                     const at::Tensor& value);

}  // namespace flow
}  // namespace openamct
