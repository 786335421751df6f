// The fake-quant pass (see fake_quant_pass.h). It runs on the deploy graph in
// file order (§12.1): quant nodes are replaced first, in that order, then
// dequant nodes; with every new node at the front of the list this gives the
// Constant order of §12.4 (dequant scales last layer first, then max_val,
// min_val, offset, scale per layer).
#include "onnx/fake_quant_pass.h"

#include <cmath>
#include <string>

#include "onnx/deploy_pass.h"
#include "onnx/onnx_graph.h"
#include "onnx/quant_numerics.h"
#include "onnx/rnn_weights_pass.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

constexpr char kDequantSuffix[] = ".dequant";

onnx::TensorProto scalar(const std::string& name, float v) {
  return float_tensor(name, {}, {v});
}

// The bit width of "INT<b>", 2 <= b <= 32.
int bits_of(const std::string& dst_type) {
  const std::string digits = dst_type.size() > 3 ? dst_type.substr(3) : std::string();
  const bool ok = dst_type.rfind("INT", 0) == 0 && !digits.empty() && digits.size() <= 2 &&
                  digits.find_first_not_of("0123456789") == std::string::npos &&
                  std::stoi(digits) >= 2 && std::stoi(digits) <= 32;
  if (!ok) throw_runtime_error("AscendQuant dst_type '" + dst_type + "' is not INT<bits>");
  return std::stoi(digits);
}

void replace_quant(onnx::GraphProto* g, int i) {
  const onnx::NodeProto node = with_io(g->node(i), 1, 1);
  const std::string q = node.name();
  const float scale = required_attribute(node, "scale", onnx::AttributeProto::FLOAT).f();
  const float offset = required_attribute(node, "offset", onnx::AttributeProto::FLOAT).f();
  const int bits =
      bits_of(required_attribute(node, "dst_type", onnx::AttributeProto::STRING).s());
  remove_node(g, i);

  const std::string p = q + ".fakequant";
  const std::vector<std::pair<std::string, float>> constants = {
      {p + ".scale", scale},
      {p + ".offset", offset},
      {p + ".min_val", -std::ldexp(1.0f, bits - 1)},
      {p + ".max_val", std::ldexp(1.0f, bits - 1) - 1.0f},
  };
  for (const auto& [name, v] : constants) prepend_node(g, make_constant(name, scalar(name, v)));
  auto out = [](const std::string& n) { return n + ".output0"; };
  const std::vector<onnx::NodeProto> chain = {
      make_node("Mul", p + ".mul", {node.input(0), out(p + ".scale")}, {out(p + ".mul")}),
      make_node("Round", p + ".round", {out(p + ".mul")}, {out(p + ".round")}),
      make_node("Add", p + ".add", {out(p + ".round"), out(p + ".offset")}, {out(p + ".add")}),
      make_node("Clip", p + ".clip", {out(p + ".add"), out(p + ".min_val"), out(p + ".max_val")},
                {out(p + ".clip")}),
      make_node("Sub", p + ".sub", {out(p + ".clip"), out(p + ".offset")}, {out(p + ".sub")}),
  };
  rename_input(g, node.output(0), out(p + ".sub"));
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) prepend_node(g, *it);
}

// `t`'s integers as float32 raw bytes, converted straight from its raw bytes
// (no intermediate vectors: this runs over every weight of the model).
std::string raw_floats(const onnx::TensorProto& t) {
  const bool int8 = t.data_type() == onnx::TensorProto::INT8;
  const size_t width = int8 ? sizeof(int8_t) : sizeof(int32_t);
  const std::string& raw = checked_raw_data(t, width);
  const size_t n = raw.size() / width;
  std::string out(n * sizeof(float), '\0');
  (int8 ? int8_to_float_bytes : int32_to_float_bytes)(raw.data(), n, out.data());
  return out;
}

void integers_to_float(onnx::GraphProto* g, const std::string& name) {
  if (name.empty()) return;
  onnx::TensorProto* t = find_initializer(g, name);
  if (!t) return;
  if (t->data_type() != onnx::TensorProto::INT8 && t->data_type() != onnx::TensorProto::INT32) {
    return;
  }
  std::string floats = raw_floats(*t);
  // The fields float_tensor gives a new tensor: name, type, dims, raw data.
  onnx::TensorProto f;
  f.set_name(t->name());
  f.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t->dims()) f.add_dims(d);
  f.set_raw_data(std::move(floats));
  t->Swap(&f);
}

void replace_dequant(onnx::GraphProto* g, int i) {
  const onnx::NodeProto node = with_io(g->node(i), 2, 1);
  const std::string d = node.name();
  const std::string suffix = kDequantSuffix;
  if (d.size() <= suffix.size() || d.compare(d.size() - suffix.size(), suffix.size(), suffix)) {
    throw_runtime_error("AscendDequant node '" + d + "' is not named '<layer>.dequant'");
  }
  const std::string layer = d.substr(0, d.size() - suffix.size());
  const onnx::TensorProto* param = find_initializer(*g, node.input(1));
  if (!param) throw_runtime_error("dequant '" + d + "' has no parameter initializer");
  std::vector<float> scales;
  for (uint64_t w : raw_values<uint64_t>(*param)) scales.push_back(dequant_word_scale(w));
  const WeightSite site = weight_site(*g, layer);
  std::vector<int64_t> shape;
  const auto c = static_cast<int64_t>(scales.size());
  if (site.rank == 4) shape = {1, c, 1, 1};
  else if (site.rank == 5) shape = {1, c, 1, 1, 1};
  else if (site.rank == 3) shape = {1, c, 1};
  else shape = {1, c};
  const std::string m = layer + ".fakedequant";
  remove_node(g, i);
  remove_initializer(g, node.input(1));
  prepend_node(g, make_constant(m + ".dqscale", float_tensor(m + ".dqscale", shape, scales)));
  const std::string out = node.output(0) == d + ".output0" ? m + ".mul.output0" : node.output(0);
  rename_input(g, node.output(0), out);
  prepend_node(g, make_node("Mul", m + ".mul", {node.input(0), m + ".dqscale.output0"}, {out}));
}

// Index of the first node of type `op` at or after `from`, or -1.
int next_of_type(const onnx::GraphProto& g, const std::string& op, int from) {
  for (int i = from; i < g.node_size(); ++i) {
    if (g.node(i).op_type() == op) return i;
  }
  return -1;
}

// Replaces every `op` node in list order. A replacement removes one node and
// puts its new nodes at the front, so the scan goes on after them.
template <typename Replace>
void replace_all(onnx::GraphProto* g, const std::string& op, Replace replace) {
  int i = next_of_type(*g, op, 0);
  while (i >= 0) {
    const int before = g->node_size();
    replace(g, i);
    const int added = g->node_size() - before;  // new nodes in front, one node gone
    i = next_of_type(*g, op, i + added + 1);
  }
}

}  // namespace

void make_fake_quant_graph(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers) {
  replace_all(g, "AscendQuant", replace_quant);
  for (const auto& p : layers) {
    if (!p.has_weight || p.is_rnn) continue;
    const WeightSite site = weight_site(*g, p.layer);
    integers_to_float(g, site.weight);
    integers_to_float(g, site.bias);
  }
  replace_all(g, "AscendDequant", replace_dequant);
  for (const auto& p : layers)
    if (p.is_rnn) fake_quant_rnn_weights(g, p);
}

}  // namespace onnx_passes
}  // namespace openamct
