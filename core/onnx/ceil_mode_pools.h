// Average pools whose ceil-mode windows an integer kernel would divide wrongly.
//
// Why: torch exports AvgPool2d(count_include_pad=True) as Pad → AveragePool
// (no pads of its own, count_include_pad 0), and with ceil_mode a last window
// may hang past the padded input; torch, ONNX and the fake-quant model divide
// it by the elements it covers. In the QDQ model that Pad sits between the
// pool's DequantizeLinear and the pool, and ONNX Runtime (1.30) folds it into
// the pool's pads with count_include_pad 1 and runs the pool as
// QLinearAveragePool, which divides every window by the whole kernel: outputs
// on the last row and column came out up to 80 integers off (found by
// fuzz/qdq_random_models.py). Padding before the QuantizeLinear instead (the
// pad value 0 quantises to the zero point, which dequantises to 0 again)
// leaves the runtime a pool whose windows it divides as torch does. The
// integers are unchanged.
//
// Only where the padded sizes are known and no window starts inside the end
// padding: there the exported graph's pool (on the padded tensor) has more
// windows than torch's, which drops such a window, and ONNX Runtime's folded
// pool follows torch; moving the Pad would keep the extra window.
#pragma once

#include <onnx/onnx_pb.h>

namespace openamct {
namespace onnx_passes {

// For each AveragePool with ceil_mode 1 fed by a zero-valued constant Pad of a
// DequantizeLinear of a QuantizeLinear, each read by that node alone, whose
// padded input has static spatial sizes (shape inference) and whose last
// window starts before the end padding on every axis: the Pad moves in front
// of the QuantizeLinear. Other pools stay as they are.
void pad_ceil_mode_pools_before_quantizing(onnx::ModelProto* m);

}  // namespace onnx_passes
}  // namespace openamct
