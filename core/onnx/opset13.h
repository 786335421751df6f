// Moves a model exported at opset 11 (the modified ONNX, spec §12.1) to
// opset 13, which the QDQ model needs: per-axis DequantizeLinear exists only
// from 13. Most ops torch exports only gained types between 11 and 13; the
// few whose inputs or semantics changed are rewritten, and any other changed
// op is refused by name rather than silently reinterpreted.
#pragma once

#include <onnx/onnx_pb.h>

namespace openamct {
namespace onnx_passes {

// Rewrites `m` (default-domain opset 11 or 12) in place to opset 13:
// Squeeze/Unsqueeze/ReduceSum axes and Split sizes become int64 initializer
// inputs; Softmax/LogSoftmax/Hardmax keep their meaning only when they work
// on the last axis (an explicit axis is then written); Dropout loses its
// `ratio` attribute (inference: identity); subgraphs (If, Loop) are converted
// alike. Throws RuntimeError naming the node and the op for anything that
// cannot be carried over (another domain, an op with another changed meaning,
// a softmax over another axis or of unknown rank).
void upgrade_to_opset13(onnx::ModelProto* m);

}  // namespace onnx_passes
}  // namespace openamct
