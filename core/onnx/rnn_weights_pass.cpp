// See rnn_weights_pass.h.
#include "onnx/rnn_weights_pass.h"

#include <string>
#include <vector>

#include "onnx/onnx_graph.h"
#include "onnx/quant_numerics.h"
#include "openamct/errors.h"
#include "openamct/log.h"

namespace openamct {
namespace onnx_passes {
namespace {

// The node of an RNN layer with its W (1, rows, In), R (1, rows, H) and
// optional B (1, 2·rows) initializers, checked against the record's factors.
struct RnnSite {
  int node = -1;
  std::string w, r, b;
  int64_t rows = 0;
};

RnnSite rnn_site(const onnx::GraphProto& g, const LayerQuantParams& p) {
  RnnSite s;
  s.node = find_node(g, p.layer);
  if (s.node < 0) {
    throw_runtime_error("layer '" + p.layer + "' of the record file has no node in the modified "
                        "ONNX; the record file and the ONNX file come from different models");
  }
  const onnx::NodeProto& n = with_io(g.node(s.node), 3, 1);
  if (n.op_type() != "LSTM" && n.op_type() != "GRU") {
    throw_runtime_error("layer '" + p.layer + "' is a " + n.op_type() + " node, not an LSTM or "
                        "GRU (a bug in OpenAMCT)");
  }
  s.w = n.input(1);
  s.r = n.input(2);
  const onnx::TensorProto* w = find_initializer(g, s.w);
  const onnx::TensorProto* r = find_initializer(g, s.r);
  if (!w || !r || w->dims_size() != 3 || r->dims_size() != 3 || w->dims(0) != 1 ||
      r->dims(0) != 1 || w->dims(1) != r->dims(1) || w->dims(1) <= 0) {
    throw_runtime_error("layer '" + p.layer + "': W and R are not the initializers of a "
                        "one-direction " + n.op_type() + "; the ONNX file is damaged");
  }
  s.rows = w->dims(1);
  const auto rows = static_cast<size_t>(s.rows);
  if (p.scale_w.size() != rows || p.offset_w.size() != rows || p.scale_r.size() != rows ||
      p.offset_r.size() != rows) {
    throw_runtime_error("layer '" + p.layer + "' has " + std::to_string(p.scale_w.size()) +
                        " scale_w and " + std::to_string(p.scale_r.size()) + " scale_r values "
                        "for " + std::to_string(rows) + " gate rows; the record file does not "
                        "match the modified ONNX");
  }
  if (n.input_size() > 3 && !n.input(3).empty()) {
    s.b = n.input(3);
    const onnx::TensorProto* b = find_initializer(g, s.b);
    if (!b || element_count(*b) != 2 * s.rows) {
      throw_runtime_error("layer '" + p.layer + "': B is not an initializer of " +
                          std::to_string(2 * s.rows) + " values; the ONNX file is damaged");
    }
  }
  return s;
}

// rne(v / scale[row]) per row of a (1, rows, cols) initializer, as int8.
std::vector<int8_t> quantize_rows(const onnx::TensorProto& t, const std::vector<float>& scale,
                                  const std::vector<int32_t>& offset, int bits,
                                  const std::string& layer) {
  const std::vector<float> v = float_values(t);
  const auto rows = static_cast<int64_t>(scale.size());
  const int64_t cols = static_cast<int64_t>(v.size()) / rows;
  std::vector<int8_t> q(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    if (!quantize_weights_int8(v.data() + r * cols, cols, &scale[r], &offset[r], 0, bits,
                               q.data() + r * cols)) {
      throw_runtime_error("layer '" + layer + "': the weight '" + t.name() + "' holds NaN");
    }
  }
  return q;
}

// The dequant scale of each of B's 2·rows values: scale_w·scale_d for the
// input half, scale_r·scale_h for the recurrent half (float32 products).
std::vector<float> bias_scales(const LayerQuantParams& p) {
  std::vector<float> s;
  for (float sw : p.scale_w) s.push_back(dequant_scale(sw, p.scale_d));
  for (float sr : p.scale_r) s.push_back(dequant_scale(sr, p.scale_h));
  return s;
}

std::vector<int32_t> quantize_biases(const onnx::TensorProto& b, const std::vector<float>& deq,
                                     const std::string& layer) {
  const std::vector<float> v = float_values(b);
  std::vector<int32_t> q(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!quantize_bias(v[i], deq[i], &q[i])) {
      log(LogLevel::kError, "Quantized bias " + std::to_string(v[i] / deq[i]) + " of layer \"" +
                                layer + "\" exceed int32 range:[-2147483648, 2147483647], "
                                "please add it to skip layer.");
      throw_runtime_error("Do bias quantize failed.");
    }
  }
  return q;
}

std::vector<int64_t> dims_of(const onnx::TensorProto& t) {
  return std::vector<int64_t>(t.dims().begin(), t.dims().end());
}

// Integers times their row's scale, float32.
template <typename T>
onnx::TensorProto scaled(const onnx::TensorProto& like, const std::vector<T>& q,
                         const std::vector<float>& row_scale) {
  const size_t cols = q.size() / row_scale.size();
  std::vector<float> v(q.size());
  for (size_t i = 0; i < q.size(); ++i) v[i] = static_cast<float>(q[i]) * row_scale[i / cols];
  return float_tensor(like.name(), dims_of(like), v);
}

// A per-row DequantizeLinear `name` of `input`, axis 1 of (1, rows, ...).
onnx::NodeProto row_dequantize(onnx::GraphProto* g, const std::string& name,
                               const std::string& input, const std::vector<float>& scale,
                               onnx::TensorProto zero_point) {
  const std::vector<int64_t> dims{static_cast<int64_t>(scale.size())};
  *g->add_initializer() = float_tensor(name + ".scale", dims, scale);
  zero_point.set_name(name + ".zero_point");
  *g->add_initializer() = zero_point;
  onnx::NodeProto n = make_node("DequantizeLinear", name,
                                {input, name + ".scale", name + ".zero_point"},
                                {name + ".output0"});
  set_int_attribute(&n, "axis", 1);
  return n;
}

}  // namespace

void fake_quant_rnn_weights(onnx::GraphProto* g, const LayerQuantParams& p) {
  const RnnSite s = rnn_site(*g, p);
  onnx::TensorProto* w = find_initializer(g, s.w);
  onnx::TensorProto* r = find_initializer(g, s.r);
  const std::vector<float> deq = bias_scales(p);  // its first half: W's rows, scale_w·scale_d
  const std::vector<float> w_deq(deq.begin(), deq.begin() + s.rows);
  *w = scaled(*w, quantize_rows(*w, p.scale_w, p.offset_w, p.wts_bits, p.layer), w_deq);
  *r = scaled(*r, quantize_rows(*r, p.scale_r, p.offset_r, p.wts_bits, p.layer), p.scale_r);
  if (s.b.empty()) return;
  onnx::TensorProto* b = find_initializer(g, s.b);
  *b = scaled(*b, quantize_biases(*b, deq, p.layer), deq);
}

void dequantize_rnn_weights(onnx::GraphProto* g, const LayerQuantParams& p) {
  const RnnSite s = rnn_site(*g, p);
  const auto rows = static_cast<size_t>(s.rows);
  std::vector<onnx::NodeProto> added;
  struct Weight {
    const std::string& tensor;
    const std::vector<float>& scale;
    const std::vector<int32_t>& offset;
    const char* suffix;
    int input;
  };
  for (const Weight& k : {Weight{s.w, p.scale_w, p.offset_w, ".W_dequant", 1},
                          Weight{s.r, p.scale_r, p.offset_r, ".R_dequant", 2}}) {
    onnx::TensorProto* t = find_initializer(g, k.tensor);
    *t = int8_tensor(t->name(), dims_of(*t),
                     quantize_rows(*t, k.scale, k.offset, p.wts_bits, p.layer));
    const std::string name = p.layer + k.suffix;
    added.push_back(row_dequantize(g, name, k.tensor, k.scale,
                                   int8_tensor("", {static_cast<int64_t>(rows)},
                                               std::vector<int8_t>(k.offset.begin(),
                                                                   k.offset.end()))));
    g->mutable_node(s.node)->set_input(k.input, name + ".output0");
  }
  if (!s.b.empty()) {
    onnx::TensorProto* b = find_initializer(g, s.b);
    const std::vector<float> deq = bias_scales(p);
    *b = int32_tensor(b->name(), dims_of(*b), quantize_biases(*b, deq, p.layer));
    const std::string name = p.layer + ".B_dequant";
    added.push_back(row_dequantize(g, name, s.b, deq,
                                   int32_tensor("", {static_cast<int64_t>(deq.size())},
                                                std::vector<int32_t>(deq.size(), 0))));
    g->mutable_node(s.node)->set_input(3, name + ".output0");
  }
  for (auto it = added.rbegin(); it != added.rend(); ++it) prepend_node(g, *it);
}

}  // namespace onnx_passes
}  // namespace openamct
