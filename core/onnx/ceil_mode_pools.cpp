// See ceil_mode_pools.h.
#include "onnx/ceil_mode_pools.h"

#include <map>
#include <string>
#include <vector>

#include "onnx/onnx_graph.h"
#include "onnx/shape_inference_guard.h"

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

std::vector<int64_t> ints_attribute(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = find_attribute(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

// torch drops a ceil-mode window that starts in the end padding; the pool on
// the padded tensor keeps it. True when there is none on any spatial axis:
// (out - 1)·stride < padded - end_pad, with out = ceil((padded - k) / stride) + 1.
bool no_window_starts_in_the_end_padding(const onnx::NodeProto& pool,
                                         const std::vector<int64_t>& padded,
                                         const std::vector<int64_t>& pads) {
  const std::vector<int64_t> kernel = ints_attribute(pool, "kernel_shape");
  std::vector<int64_t> strides = ints_attribute(pool, "strides");
  const size_t spatial = kernel.size(), rank = padded.size();
  if (spatial == 0 || rank < spatial + 2 || pads.size() != 2 * rank) return false;
  if (strides.empty()) strides.assign(spatial, 1);
  if (strides.size() != spatial) return false;
  for (int64_t own : ints_attribute(pool, "pads"))  // torch's form: the Pad pads, not the pool
    if (own != 0) return false;
  const auto* auto_pad = find_attribute(pool, "auto_pad");
  if (auto_pad && auto_pad->s() != "NOTSET") return false;
  for (size_t a = 0; a < spatial; ++a) {
    const int64_t length = padded[rank - spatial + a], k = kernel[a], s = strides[a];
    const int64_t end_pad = pads[rank + rank - spatial + a];
    if (k < 1 || s < 1 || length < k) return false;
    const int64_t out = (length - k + s - 1) / s + 1;
    if ((out - 1) * s >= length - end_pad) return false;
  }
  return true;
}

// The Pad's pads when they are an int64 initializer or Constant; else empty.
std::vector<int64_t> pad_amounts(const onnx::GraphProto& g, const onnx::NodeProto& pad) {
  const onnx::TensorProto* t = find_initializer(g, pad.input(1));
  if (!t) {
    const int c = find_producer(g, pad.input(1));
    if (c < 0 || g.node(c).op_type() != "Constant") return {};
    const auto* value = find_attribute(g.node(c), "value");
    if (!value || !value->has_t()) return {};
    t = &value->t();
  }
  if (t->data_type() != onnx::TensorProto::INT64) return {};
  if (!t->int64_data().empty()) return {t->int64_data().begin(), t->int64_data().end()};
  return raw_values<int64_t>(*t);
}

}  // namespace

void pad_ceil_mode_pools_before_quantizing(onnx::ModelProto* m) {
  onnx::GraphProto* g = m->mutable_graph();
  std::map<std::string, std::vector<int64_t>> shapes;
  bool inferred = false;
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
    if (!inferred) shapes = inferred_dims(*m), inferred = true;
    const auto padded_shape = shapes.find(g->node(pad).output(0));
    if (padded_shape == shapes.end() ||
        !no_window_starts_in_the_end_padding(pool, padded_shape->second,
                                             pad_amounts(*g, g->node(pad))))
      continue;
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
