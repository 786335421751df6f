// The weights of quantised LSTM / GRU nodes in the fake-quant and QDQ models
// (spec §15). Why a pass of its own: a standard ONNX LSTM / GRU node runs its
// recurrence inside one op, so neither model can quantise the hidden state
// between steps, nor put a dequant after the node (its gates mix W·x and
// R·h, which have different scales). What ONNX can express is quantised:
// the input (the deploy pass's AscendQuant, as for every layer), W per row
// with scale_w, R per row with scale_r, and B split as the reference splits
// it (first half with scale_w·scale_d, second with scale_r·scale_h). The
// hidden state stays float. The Ascend deploy model replaces an RNN with
// Ascend's own operators, which the spec does not describe, so save_model
// refuses "deploy" for a record with an RNN layer (onnx_files.cpp).
#pragma once

#include <onnx/onnx_pb.h>

#include "onnx/quant_params.h"

namespace openamct {
namespace onnx_passes {

// Fake-quant model: the node reads the integer input of the fake-quant
// chain, so W holds rne(W/scale_w)·(scale_w·scale_d), R rne(R/scale_r)·scale_r
// and B its integers times their dequant scales, all float32.
void fake_quant_rnn_weights(onnx::GraphProto* g, const LayerQuantParams& p);

// QDQ model: W and R int8 with a per-row DequantizeLinear (axis 1), B int32
// with one (axis 1, scales scale_w·scale_d then scale_r·scale_h).
void dequantize_rnn_weights(onnx::GraphProto* g, const LayerQuantParams& p);

}  // namespace onnx_passes
}  // namespace openamct
