// Shared by the ONNX pass tests: quantisation parameters for the hand-built
// graphs (the one-Conv graph "c": 2 output channels, weights {0.5, -1},
// biases {0.25, 3}, with an asymmetric activation and per-channel weights),
// graph inputs/outputs, and node lookup by name.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "onnx/onnx_graph.h"
#include "onnx/quant_params.h"

namespace openamct::onnx_passes::test {

// Layer `layer` with activation scale/offset and the per-channel weights of
// a 2-output-channel layer.
inline LayerQuantParams layer_params(const std::string& layer, float scale_d, int32_t offset_d) {
  LayerQuantParams p;
  p.layer = layer;
  p.scale_d = scale_d;
  p.offset_d = offset_d;
  p.scale_w = {0.01f, 0.02f};
  p.offset_w = {0, 0};
  return p;
}

inline LayerQuantParams conv_params() { return layer_params("c", 0.1f, -3); }

// A float32 graph input or output of the given shape.
inline void float_value(onnx::ValueInfoProto* v, const std::string& name,
                        const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

// An empty model (IR 7, default-domain `opset`) whose graph is called "g".
inline onnx::ModelProto empty_model(int64_t opset) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// The node called `name`; a failed expectation when there is none.
inline const onnx::NodeProto& node(const onnx::GraphProto& g, const std::string& name) {
  const int i = find_node(g, name);
  EXPECT_GE(i, 0) << name;
  return g.node(i);
}

}  // namespace openamct::onnx_passes::test
