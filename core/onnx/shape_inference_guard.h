// The checks a graph must pass before libonnx's shape inference runs on it.
// Why: save_model reads a modified ONNX file it may not have written, and
// libonnx's convolution / pooling inference divides by strides (and reads
// dilations, kernel sizes and groups) without checking them: a stride of 0
// is a division by zero (SIGFPE) in the library, not an exception.
#pragma once

#include <onnx/onnx_pb.h>

namespace openamct {
namespace onnx_passes {

// RuntimeError naming the node and the attribute when any node (subgraphs
// included) has a non-positive value in strides, dilations or kernel_shape,
// or a group below 1.
void check_shape_inference_inputs(const onnx::GraphProto& g);

}  // namespace onnx_passes
}  // namespace openamct
