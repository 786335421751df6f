// See shape_inference_guard.h.
#include "onnx/shape_inference_guard.h"

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

}  // namespace onnx_passes
}  // namespace openamct
