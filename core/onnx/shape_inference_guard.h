// The checks a graph must pass before libonnx's shape inference runs on it,
// and the one place the passes run that inference for the shapes they need.
// Why: save_model reads a modified ONNX file it may not have written, and
// libonnx's convolution / pooling inference divides by strides (and reads
// dilations, kernel sizes and groups) without checking them: a stride of 0
// is a division by zero (SIGFPE) in the library, not an exception.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace openamct {
namespace onnx_passes {

// RuntimeError naming the node and the attribute when any node (subgraphs
// included) has a non-positive value in strides, dilations or kernel_shape,
// or a group below 1.
void check_shape_inference_inputs(const onnx::GraphProto& g);

// The dims libonnx's shape inference gives each tensor of `m` it knows a shape
// of (graph inputs, value_info, outputs, initializers), -1 for a dim that is
// not static; checked first as above (a RuntimeError propagates). Where the
// inference fails part-way, what it found up to there.
std::map<std::string, std::vector<int64_t>> inferred_dims(const onnx::ModelProto& m);

}  // namespace onnx_passes
}  // namespace openamct
