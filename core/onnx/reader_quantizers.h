// One QuantizeLinear per reader in the int8 QDQ models.
//
// Why: ONNX Runtime (1.30, x86) runs a QDQ convolution in integer kernels only
// with uint8 activations, and turns an int8 Q/DQ pair into uint8 only when the
// Q has a single reader (its QDQS8ToU8 transformer). A tensor that two
// quantised layers read (a ResNet block's input: its first conv and the
// downsample conv, or the residual Add of the qdq_full model) has one Q and
// two DQs, so neither pair converts and both convolutions run in float
// (ResNet-50 qdq_full: 33 of 53 convolutions as QLinearConv). A Q per reader
// computes the same integers, and each pair converts (52 of 53).
// Each copy gets scale and zero-point initializers of its own: the runtime
// merges nodes whose inputs are the same tensors (common subexpression
// elimination), which would rebuild the shared Q.
#pragma once

#include <onnx/onnx_pb.h>

namespace openamct {
namespace onnx_passes {

// Gives every reader of a QuantizeLinear output beyond the first a copy of
// that QuantizeLinear (`<name>/reader<k>`, output `<output>.reader<k>`, its
// scale and zero point copied as `<initializer>.reader<k>`). Values unchanged.
// New nodes go at the end of the list: order_nodes places them.
void give_each_reader_its_quantizer(onnx::GraphProto* g);

}  // namespace onnx_passes
}  // namespace openamct
