// See shape_inference_guard.h.
#include "onnx/shape_inference_guard.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <string>

#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {

void check_shape_inference_inputs(const onnx::GraphProto& g) {
  for (const auto& n : g.node()) {
    for (const auto& a : n.attribute()) {
      const std::string& name = a.name();
      bool bad = false;
      if (name == "strides" || name == "dilations" || name == "kernel_shape") {
        for (int64_t v : a.ints()) bad = bad || v <= 0;
      } else if (name == "group") {
        bad = a.i() < 1;
      }
      if (bad) {
        throw_runtime_error("node '" + n.name() + "' (" + n.op_type() + ") has a non-positive " +
                            name + "; the ONNX file is damaged, export it again");
      }
      if (a.has_g()) check_shape_inference_inputs(a.g());
      for (const auto& sub : a.graphs()) check_shape_inference_inputs(sub);
    }
  }
}

std::map<std::string, std::vector<int64_t>> inferred_dims(const onnx::ModelProto& m) {
  check_shape_inference_inputs(m.graph());
  onnx::ModelProto copy = m;
  try {
    onnx::shape_inference::InferShapes(copy);
  } catch (const std::exception&) {
    // What was inferred before the failure stays; the rest is unknown.
  }
  std::map<std::string, std::vector<int64_t>> dims;
  auto add = [&dims](const onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    std::vector<int64_t>& d = dims[v.name()];
    d.clear();
    for (const auto& dim : v.type().tensor_type().shape().dim())
      d.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  };
  for (const auto& v : copy.graph().input()) add(v);
  for (const auto& v : copy.graph().value_info()) add(v);
  for (const auto& v : copy.graph().output()) add(v);
  for (const auto& t : copy.graph().initializer())
    dims[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
  return dims;
}

}  // namespace onnx_passes
}  // namespace openamct
