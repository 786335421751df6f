// The deploy pass (see deploy_pass.h). Each step runs over every layer in
// record order before the next step starts, as in the reference, because the
// front insertions of each step decide the file's node order (§12.1).
#include "onnx/deploy_pass.h"

#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "onnx/onnx_graph.h"
#include "onnx/quant_numerics.h"
#include "openamct/errors.h"
#include "openamct/log.h"

namespace openamct {
namespace onnx_passes {
namespace {

int layer_node(const onnx::GraphProto& g, const std::string& layer) {
  const int i = find_node(g, layer);
  if (i < 0) {
    throw_runtime_error("layer '" + layer + "' of the record file has no node in the modified "
                        "ONNX; the record file and the ONNX file come from different models");
  }
  with_io(g.node(i), 1, 1);
  return i;
}

// The node whose input 0 is the layer's data input: the layer itself, or for
// an AvgPool2d exported with a Pad in front, that `<layer>_pad` node.
int data_input_node(const onnx::GraphProto& g, const std::string& layer) {
  const int i = layer_node(g, layer);
  if (g.node(i).op_type() == "AveragePool") {
    const int p = find_producer(g, g.node(i).input(0));
    if (p >= 0 && g.node(p).name() == layer + "_pad") {
      with_io(g.node(p), 1, 1);
      return p;
    }
  }
  return i;
}

// A MatMul's bias Add (§12.3): the only reader of the MatMul output, an Add
// whose input 1 is a 1-D initializer of length Cout. torch 1.13 puts the bias
// first (K9), so this rarely matches.
int matched_bias_add(const onnx::GraphProto& g, int matmul, int64_t cout) {
  const auto readers = find_consumers(g, g.node(matmul).output(0));
  if (readers.size() != 1) return -1;
  const auto& add = g.node(readers.front());
  if (add.op_type() != "Add" || add.input_size() != 2 || add.output_size() < 1 ||
      add.input(0) != g.node(matmul).output(0)) {
    return -1;
  }
  const auto* b = find_initializer(g, add.input(1));
  if (!b || b->dims_size() != 1 || b->dims(0) != cout) return -1;
  return readers.front();
}

int64_t output_channels(const onnx::GraphProto& g, const onnx::NodeProto& n,
                        const onnx::TensorProto& w) {
  const std::string& op = n.op_type();
  if (op == "Conv") return w.dims(0);
  if (op == "ConvTranspose") return w.dims(1) * int_attribute(n, "group", 1);
  if (op == "Gemm") return int_attribute(n, "transB", 0) ? w.dims(0) : w.dims(1);
  (void)g;
  return w.dims(w.dims_size() - 1);  // MatMul: (Cin, Cout)
}

// Calls run(begin, count, first, step) over the weight's elements in memory
// order, in runs whose element i belongs to output channel first + i * step:
// step 0 for the layouts with Cout outermost (one channel a run), step 1 for
// the (Cin, Cout) rows of a MatMul or a Gemm without transB (every channel
// once a run).
template <class Run>
void for_each_channel_run(const onnx::NodeProto& n, const onnx::TensorProto& w, Run run) {
  const int64_t count = element_count(w);
  const std::string& op = n.op_type();
  if (op == "Conv") {
    const int64_t per = count / w.dims(0);
    for (int64_t c = 0; c < w.dims(0); ++c) run(c * per, per, c, 0);
  } else if (op == "ConvTranspose") {  // (Cin, Cout/g, k...) seen Cout-first
    const int64_t groups = int_attribute(n, "group", 1);
    const int64_t cin = w.dims(0), cout_g = w.dims(1);
    const int64_t k = count / (cin * cout_g);
    for (int64_t ci = 0; ci < cin; ++ci)
      for (int64_t j = 0; j < cout_g; ++j)
        run((ci * cout_g + j) * k, k, (ci / (cin / groups)) * cout_g + j, 0);
  } else if (op == "Gemm" && int_attribute(n, "transB", 0)) {
    const int64_t per = w.dims(1);
    for (int64_t c = 0; c < w.dims(0); ++c) run(c * per, per, c, 0);
  } else {  // Gemm transB=0 and MatMul: (Cin, Cout)
    const int64_t cout = w.dims(w.dims_size() - 1);
    for (int64_t r = 0; r * cout < count; ++r) run(r * cout, cout, 0, 1);
  }
}

void check_channels(const LayerQuantParams& p, int64_t cout) {
  const auto n = static_cast<int64_t>(p.scale_w.size());
  if ((n != 1 && n != cout) || p.offset_w.size() != p.scale_w.size()) {
    throw_runtime_error("layer '" + p.layer + "' has " + std::to_string(n) + " scale_w and " +
                        std::to_string(p.offset_w.size()) + " offset_w values for " +
                        std::to_string(cout) + " output channels; the record file does not "
                        "match the modified ONNX");
  }
}

std::vector<int64_t> broadcast_shape(int weight_rank, int64_t c) {
  if (weight_rank == 4) return {1, c, 1, 1};
  if (weight_rank == 5) return {1, c, 1, 1, 1};
  if (weight_rank == 3) return {1, c, 1};
  return {1, c};
}

// ---- the steps ----------------------------------------------------------------

void transpose_gemm_weight(onnx::GraphProto* g, const LayerQuantParams& p) {
  onnx::NodeProto* n = g->mutable_node(layer_node(*g, p.layer));
  if (n->op_type() != "Gemm" || int_attribute(*n, "transB", 0) != 1) return;
  onnx::TensorProto* w = find_initializer(g, n->input(1));
  if (!w || w->dims_size() != 2) {
    throw_runtime_error("Gemm '" + p.layer + "' has no 2-D weight initializer");
  }
  const int64_t rows = w->dims(0), cols = w->dims(1);
  const auto v = float_values(*w);
  std::vector<float> t(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = v[r * cols + c];
  }
  *w = float_tensor(w->name(), {cols, rows}, t);
  set_int_attribute(n, "transB", 0);
}

void insert_balance(onnx::GraphProto* g, const LayerQuantParams& p) {
  if (p.tensor_balance_factor.empty()) return;
  std::vector<float> inv;
  for (float s : p.tensor_balance_factor) inv.push_back(reciprocal(s));
  const auto c = static_cast<int64_t>(inv.size());
  // An RNN's input ([batch,] seq, In) meets its factors on the last axis.
  const std::vector<int64_t> shape =
      p.is_rnn ? std::vector<int64_t>{c} : broadcast_shape(weight_site(*g, p.layer).rank, c);
  const std::string cname = p.layer + ".tensor_balance_factor";
  prepend_node(g, make_constant(cname, float_tensor(cname, shape, inv)));
  onnx::NodeProto* target = g->mutable_node(data_input_node(*g, p.layer));
  const std::string mul = p.layer + ".mul";
  const onnx::NodeProto node =
      make_node("Mul", mul, {target->input(0), cname + ".output0"}, {mul + ".output0"});
  target->set_input(0, mul + ".output0");
  prepend_node(g, node);
}

void insert_quant(onnx::GraphProto* g, const LayerQuantParams& p) {
  onnx::NodeProto* target = g->mutable_node(data_input_node(*g, p.layer));
  const std::string q = p.layer + ".quant";
  onnx::NodeProto node = make_node("AscendQuant", q, {target->input(0)}, {q + ".output0"});
  set_float_attribute(&node, "scale", quant_scale(p.scale_d));
  set_float_attribute(&node, "offset", static_cast<float>(p.offset_d));
  set_string_attribute(&node, "dst_type", "INT" + std::to_string(p.act_bits));
  target->set_input(0, q + ".output0");
  prepend_node(g, node);
}

void quantize_weight_initializer(onnx::GraphProto* g, const LayerQuantParams& p) {
  // An RNN keeps float weights here (rnn_weights_pass.h).
  if (!p.has_weight || p.is_rnn) return;
  const onnx::NodeProto& n = g->node(layer_node(*g, p.layer));
  const WeightSite site = weight_site(*g, p.layer);
  onnx::TensorProto* w = find_initializer(g, site.weight);
  if (!w) throw_runtime_error("layer '" + p.layer + "' has no weight initializer");
  check_channels(p, output_channels(*g, n, *w));
  const auto values = float_values(*w);
  const bool per_tensor = p.scale_w.size() == 1;
  std::vector<int8_t> q(values.size());
  // A per-tensor scale: every element reads entry 0.
  auto first_step = [per_tensor](int64_t first, int64_t step) {
    return per_tensor ? std::pair<int64_t, int64_t>{0, 0} : std::pair{first, step};
  };
  bool no_nan = p.wts_bits >= 2 && p.wts_bits <= 8;  // else not an int8 grid: element-wise below
  if (no_nan) {
    for_each_channel_run(n, *w, [&](int64_t begin, int64_t count, int64_t first, int64_t step) {
      const auto [c, s] = first_step(first, step);
      if (no_nan)
        no_nan = quantize_weights_int8(values.data() + begin, count, &p.scale_w[c],
                                       &p.offset_w[c], static_cast<int>(s), p.wts_bits,
                                       q.data() + begin);
    });
  }
  if (!no_nan) {  // element by element: names the first NaN
    for_each_channel_run(n, *w, [&](int64_t begin, int64_t count, int64_t first, int64_t step) {
      const auto [c0, s] = first_step(first, step);
      for (int64_t i = begin; i < begin + count; ++i) {
        const size_t c = static_cast<size_t>(c0 + (i - begin) * s);
        int32_t v = 0;
        if (!quantize_weight(values[i], p.scale_w[c], p.offset_w[c], p.wts_bits, &v)) {
          throw_runtime_error("the weight of layer '" + p.layer + "' quantises to NaN (element " +
                              std::to_string(i) + ": " + std::to_string(values[i]) +
                              " / scale_w " + std::to_string(p.scale_w[c]) +
                              "); check the model and the record");
        }
        q[i] = static_cast<int8_t>(v);
      }
    });
  }
  const std::vector<int64_t> dims(w->dims().begin(), w->dims().end());
  *w = int8_tensor(w->name(), dims, q);
}

void insert_dequant(onnx::GraphProto* g, const LayerQuantParams& p) {
  if (p.is_rnn) return;  // no dequant can follow an RNN node (rnn_weights_pass.h)
  const int li = layer_node(*g, p.layer);
  int last = li;  // the node after which the dequant sits
  if (g->node(li).op_type() == "MatMul" && !p.scale_w.empty()) {
    const auto* w = find_initializer(*g, g->node(li).input(1));
    const int add = w ? matched_bias_add(*g, li, w->dims(w->dims_size() - 1)) : -1;
    if (add >= 0) last = add;
  }
  const std::string d = p.layer + ".dequant";
  const std::string param = d + ".param";
  std::vector<uint64_t> words;
  const std::vector<float> one{1.0f};
  const std::vector<int32_t> zero{0};
  const auto& sw = p.scale_w.empty() ? one : p.scale_w;
  const auto& ow = p.offset_w.empty() ? zero : p.offset_w;
  if (ow.size() != sw.size()) {
    throw_runtime_error("layer '" + p.layer + "' has " + std::to_string(sw.size()) +
                        " scale_w and " + std::to_string(ow.size()) + " offset_w values");
  }
  for (size_t i = 0; i < sw.size(); ++i) words.push_back(dequant_word(sw[i], p.scale_d, ow[i]));
  *g->add_initializer() = uint64_tensor(param, {static_cast<int64_t>(words.size())}, words);

  const std::string out = g->node(last).output(0);
  std::string dq_out = d + ".output0";
  if (is_graph_output(*g, out)) {
    const std::string renamed = p.layer + "_output0";
    g->mutable_node(last)->set_output(0, renamed);
    rename_input(g, out, renamed);
    onnx::NodeProto node = make_node("AscendDequant", d, {renamed, param}, {out});
    set_int_attribute(&node, "dtype", 0);  // K2
    prepend_node(g, node);
    // Readers of the graph output keep reading it: it is now the dequant output.
    for (int i : find_consumers(*g, renamed)) {
      if (g->node(i).name() != d) {
        for (auto& in : *g->mutable_node(i)->mutable_input()) {
          if (in == renamed) in = out;
        }
      }
    }
    return;
  }
  rename_input(g, out, dq_out);
  onnx::NodeProto node = make_node("AscendDequant", d, {out, param}, {dq_out});
  set_int_attribute(&node, "dtype", 0);  // K2
  prepend_node(g, node);
}

void quantize_bias_initializer(onnx::GraphProto* g, const LayerQuantParams& p) {
  // An RNN keeps float weights here (rnn_weights_pass.h).
  if (!p.has_weight || p.is_rnn) return;
  const WeightSite site = weight_site(*g, p.layer);
  if (site.bias.empty()) return;
  onnx::TensorProto* b = find_initializer(g, site.bias);
  if (!b) throw_runtime_error("the bias '" + site.bias + "' of layer '" + p.layer +
                              "' is no initializer");
  const auto values = float_values(*b);
  const bool per_tensor = p.scale_w.size() == 1;
  if (!per_tensor && values.size() != p.scale_w.size()) {
    throw_runtime_error("layer '" + p.layer + "' has " + std::to_string(values.size()) +
                        " bias values for " + std::to_string(p.scale_w.size()) + " scale_w");
  }
  std::vector<int32_t> q(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const float deq = dequant_scale(p.scale_w[per_tensor ? 0 : i], p.scale_d);
    if (!quantize_bias(values[i], deq, &q[i])) {
      log(LogLevel::kError, "Quantized bias " + std::to_string(values[i] / deq) + " of layer \"" +
                                p.layer + "\" exceed int32 range:[-2147483648, 2147483647], "
                                "please add it to skip layer.");
      throw_runtime_error("Do bias quantize failed.");
    }
  }
  const std::vector<int64_t> dims(b->dims().begin(), b->dims().end());
  *b = int32_tensor(b->name(), dims, q);
}

// AscendQuant nodes on the same tensor with the same parameters collapse into
// the first in record order.
void fuse_quants(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers) {
  std::map<std::tuple<std::string, uint32_t, uint32_t, std::string>, std::string> keepers;
  for (const auto& p : layers) {
    const int i = find_node(*g, p.layer + ".quant");
    if (i < 0) continue;
    const onnx::NodeProto& q = with_io(g->node(i), 1, 1);
    const float scale = required_attribute(q, "scale", onnx::AttributeProto::FLOAT).f();
    const float offset = required_attribute(q, "offset", onnx::AttributeProto::FLOAT).f();
    uint32_t sb = 0, ob = 0;
    std::memcpy(&sb, &scale, 4);
    std::memcpy(&ob, &offset, 4);
    const auto key = std::make_tuple(
        q.input(0), sb, ob, required_attribute(q, "dst_type", onnx::AttributeProto::STRING).s());
    auto [it, inserted] = keepers.emplace(key, q.output(0));
    if (inserted) continue;
    const std::string gone = q.output(0);
    remove_node(g, i);
    rename_input(g, gone, it->second);
  }
}

}  // namespace

WeightSite weight_site(const onnx::GraphProto& g, const std::string& layer) {
  const onnx::NodeProto& n = g.node(layer_node(g, layer));
  WeightSite s;
  const std::string& op = n.op_type();
  if (op == "AveragePool") return s;
  if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul") {
    throw_runtime_error("layer '" + layer + "' is a " + op + " node; the saved models quantise "
                        "Conv, ConvTranspose, Gemm, MatMul and AveragePool nodes");
  }
  s.weight = with_io(n, 2, 1).input(1);
  const auto* w = find_initializer(g, s.weight);
  if (!w) throw_runtime_error("the weight '" + s.weight + "' of layer '" + layer +
                              "' is no initializer");
  s.rank = w->dims_size();
  const int64_t groups = int_attribute(n, "group", 1);
  const bool matrix = op == "Gemm" || op == "MatMul";
  bool valid = (matrix ? s.rank == 2 : s.rank >= 3) && groups >= 1 &&
               w->dims(0) % (op == "ConvTranspose" ? groups : 1) == 0;
  for (int k = 0; valid && k < s.rank; ++k) valid = w->dims(k) > 0;
  if (!valid) {
    throw_runtime_error("the weight '" + s.weight + "' of layer '" + layer + "' has a shape a " +
                        op + " cannot have; the ONNX file is damaged");
  }
  if (op != "MatMul" && n.input_size() > 2) s.bias = n.input(2);
  if (op == "MatMul") {
    const int add = matched_bias_add(g, find_node(g, layer), w->dims(w->dims_size() - 1));
    if (add >= 0) s.bias = g.node(add).input(1);
  }
  return s;
}

void make_deploy_graph(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers) {
  for (const auto& p : layers) transpose_gemm_weight(g, p);
  for (const auto& p : layers) insert_balance(g, p);
  for (const auto& p : layers) insert_quant(g, p);
  for (const auto& p : layers) quantize_weight_initializer(g, p);
  for (const auto& p : layers) insert_dequant(g, p);
  for (const auto& p : layers) quantize_bias_initializer(g, p);
  fuse_quants(g, layers);
}

void strip_op_data_type(onnx::GraphProto* g) {
  for (auto& n : *g->mutable_node()) remove_attribute(&n, "op_data_type");
}

}  // namespace onnx_passes
}  // namespace openamct
