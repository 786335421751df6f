// See ceil_mode_pools.h.
#include "onnx/ceil_mode_pools.h"

#include <string>
#include <vector>

#include "onnx/onnx_graph.h"

namespace openamct {
namespace onnx_passes {
namespace {

// The node making `tensor` when `tensor` has no reader but `reader` and is no
// graph output, and that node has `op`; else -1.
int sole_producer(const onnx::GraphProto& g, const std::string& tensor, int reader,
                  const std::string& op) {
  const std::vector<int> readers = find_consumers(g, tensor);
  if (readers.size() != 1 || readers[0] != reader || is_graph_output(g, tensor)) return -1;
  const int p = find_producer(g, tensor);
  return p >= 0 && g.node(p).op_type() == op ? p : -1;
}

// Constant mode with the default pad value 0 (or an explicit zero initializer).
bool pads_with_zeros(const onnx::GraphProto& g, const onnx::NodeProto& pad) {
  const auto* mode = find_attribute(pad, "mode");
  if (mode && mode->s() != "constant") return false;
  if (pad.input_size() < 3 || pad.input(2).empty()) return true;
  const onnx::TensorProto* value = find_initializer(g, pad.input(2));
  if (!value || value->data_type() != onnx::TensorProto::FLOAT) return false;
  const std::vector<float> v = float_values(*value);
  return v.size() == 1 && v[0] == 0.0f;
}

}  // namespace

void pad_ceil_mode_pools_before_quantizing(onnx::GraphProto* g) {
  for (int i = 0; i < g->node_size(); ++i) {
    const onnx::NodeProto& pool = g->node(i);
    if (pool.op_type() != "AveragePool" || int_attribute(pool, "ceil_mode", 0) != 1 ||
        pool.input_size() < 1)
      continue;
    const int pad = sole_producer(*g, pool.input(0), i, "Pad");
    if (pad < 0 || g->node(pad).input_size() < 2 || !pads_with_zeros(*g, g->node(pad))) continue;
    const int dq = sole_producer(*g, g->node(pad).input(0), pad, "DequantizeLinear");
    if (dq < 0) continue;
    const int q = sole_producer(*g, g->node(dq).input(0), dq, "QuantizeLinear");
    if (q < 0) continue;
    // float → Pad → Q → DQ → pool, each tensor keeping its name and producer's name.
    const std::string unpadded = g->node(q).input(0), padded = g->node(pad).output(0);
    const std::string dequantized = g->node(dq).output(0);
    g->mutable_node(pad)->set_input(0, unpadded);
    g->mutable_node(q)->set_input(0, padded);
    g->mutable_node(i)->set_input(0, dequantized);
  }
}

}  // namespace onnx_passes
}  // namespace openamct
