// The QDQ pass (see qdq_pass.h). It starts from the deploy graph rather than
// the modified ONNX so that Gemm transposition, DMQ, quant fusion and the
// integer weights and biases are the deploy model's own (one place for the §13
// numerics); it only changes how the integers are written.
#include "onnx/qdq_pass.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <map>
#include <set>
#include <string>

#include "onnx/deploy_pass.h"
#include "onnx/onnx_graph.h"
#include "onnx/quant_numerics.h"
#include "onnx/rnn_weights_pass.h"
#include "onnx/shape_inference_guard.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

const std::string kQuantSuffix = ".quant";
const std::string kDequantSuffix = ".dequant";

std::string out0(const std::string& node) { return node + ".output0"; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_expressible(const onnx::GraphProto& g, const LayerQuantParams& p) {
  if (p.act_bits != 8) {
    throw_runtime_error("layer '" + p.layer + "' has INT" + std::to_string(p.act_bits) +
                        " activations; the QDQ model holds INT8 activations only (skip the "
                        "layer or save without \"qdq\")");
  }
  const int i = find_node(g, p.layer);
  const auto* type = i < 0 ? nullptr : find_attribute(g.node(i), "op_data_type");
  if (type && type->s() == "float16") {
    throw_runtime_error("layer '" + p.layer + "' computes in float16; the QDQ model (opset 13 "
                        "DequantizeLinear outputs float32) supports float32 models only");
  }
}

// A DequantizeLinear `name` of `input` with the given scale and zero point
// initializers (`<name>.scale`, `<name>.zero_point`); axis < 0: per tensor.
onnx::NodeProto dequantize(onnx::GraphProto* g, const std::string& name, const std::string& input,
                           const onnx::TensorProto& scale, const onnx::TensorProto& zero_point,
                           int64_t axis) {
  *g->add_initializer() = scale;
  *g->add_initializer() = zero_point;
  onnx::NodeProto n =
      make_node("DequantizeLinear", name, {input, scale.name(), zero_point.name()}, {out0(name)});
  if (axis >= 0) set_int_attribute(&n, "axis", axis);
  return n;
}

// Per-tensor scale/zero point are 0-d; per-channel ones 1-D along `axis`.
std::vector<int64_t> param_dims(size_t count) {
  return count == 1 ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(count)};
}

std::vector<int8_t> int8_zero_points(const std::vector<int32_t>& offsets) {
  return std::vector<int8_t>(offsets.begin(), offsets.end());  // PTQ: all 0 (§11.4)
}

// ConvTranspose with groups > 1 and per-channel scales: output channel
// g·Cout/g + j lies on axis 0 (group) and axis 1 (j) of (Cin, Cout/g, k…), so
// no single DequantizeLinear axis holds it. The weight is dequantized with
// scale 1 (exact) and multiplied by a (Cin, Cout/g, 1…) scale tensor.
onnx::NodeProto grouped_transpose_scale(onnx::GraphProto* g, const LayerQuantParams& p,
                                        const onnx::TensorProto& w, int64_t groups,
                                        const std::string& input, std::string* output) {
  const int64_t cin = w.dims(0), cout_g = w.dims(1);
  std::vector<float> scales(static_cast<size_t>(cin * cout_g));
  for (int64_t ci = 0; ci < cin; ++ci) {
    const int64_t group = ci / (cin / groups);
    for (int64_t j = 0; j < cout_g; ++j) scales[ci * cout_g + j] = p.scale_w[group * cout_g + j];
  }
  std::vector<int64_t> dims{cin, cout_g};
  for (int k = 2; k < w.dims_size(); ++k) dims.push_back(1);
  const std::string name = p.layer + ".weight_scale";
  *g->add_initializer() = float_tensor(name, dims, scales);
  const std::string mul = p.layer + ".weight_scale_mul";
  *output = out0(mul);
  return make_node("Mul", mul, {input, name}, {out0(mul)});
}

void dequantize_weight_and_bias(onnx::GraphProto* g, const LayerQuantParams& p) {
  if (!p.has_weight) return;
  if (p.is_rnn) return dequantize_rnn_weights(g, p);
  const WeightSite site = weight_site(*g, p.layer);
  const onnx::NodeProto& n = g->node(find_node(*g, p.layer));
  const std::string op = n.op_type();
  const onnx::TensorProto w = *find_initializer(*g, site.weight);
  const int64_t groups = int_attribute(n, "group", 1);
  const bool per_tensor = p.scale_w.size() == 1;
  // Output-channel axis of the stored weight: Conv (Cout, Cin/g, k…);
  // ConvTranspose (Cin, Cout/g, k…); Gemm and MatMul (Cin, Cout) after the
  // deploy pass's transB step.
  const int64_t axis = per_tensor ? -1 : op == "Conv" ? 0 : 1;

  const std::string wdq = p.layer + ".weight_dequant";
  std::string weight_out = out0(wdq);
  std::vector<onnx::NodeProto> added;
  if (op == "ConvTranspose" && groups > 1 && !per_tensor) {
    added.push_back(dequantize(g, wdq, site.weight, float_tensor(wdq + ".scale", {}, {1.0f}),
                               int8_tensor(wdq + ".zero_point", {}, {0}), -1));
    added.push_back(grouped_transpose_scale(g, p, w, groups, out0(wdq), &weight_out));
  } else {
    const auto dims = param_dims(p.scale_w.size());
    added.push_back(dequantize(g, wdq, site.weight, float_tensor(wdq + ".scale", dims, p.scale_w),
                               int8_tensor(wdq + ".zero_point", dims, int8_zero_points(p.offset_w)),
                               axis));
  }
  rename_input(g, site.weight, weight_out);

  if (!site.bias.empty()) {
    const onnx::TensorProto* b = find_initializer(*g, site.bias);
    if (!b || b->data_type() != onnx::TensorProto::INT32) {
      throw_runtime_error("the bias of layer '" + p.layer + "' is no int32 initializer");
    }
    // The deploy pass rounded the bias with exactly these scales (quantize_bias).
    std::vector<float> scales;
    for (float sw : p.scale_w) scales.push_back(dequant_scale(sw, p.scale_d));
    const std::string bdq = p.layer + ".bias_dequant";
    const size_t c = scales.size();
    rename_input(g, site.bias, out0(bdq));
    added.push_back(dequantize(
        g, bdq, site.bias, float_tensor(bdq + ".scale", param_dims(c), scales),
        int32_tensor(bdq + ".zero_point", param_dims(c), std::vector<int32_t>(c, 0)),
        per_tensor ? -1 : 0));
  }
  for (auto it = added.rbegin(); it != added.rend(); ++it) prepend_node(g, *it);
}

// AscendQuant → QuantizeLinear (same name and output) and, for each reader of
// its output, a DequantizeLinear `<reader>.input_dequant` of its own: a
// runtime fuses a DQ into the node it feeds, so DQs are not shared.
void replace_quant(onnx::GraphProto* g, const std::string& name,
                   const std::map<std::string, const LayerQuantParams*>& params) {
  const auto it = params.find(name.substr(0, name.size() - kQuantSuffix.size()));
  if (!ends_with(name, kQuantSuffix) || it == params.end()) {
    throw_runtime_error("AscendQuant node '" + name + "' belongs to no layer of the record");
  }
  const LayerQuantParams& p = *it->second;
  onnx::NodeProto* q = g->mutable_node(find_node(*g, name));
  const std::string scale = name + ".scale", zp = name + ".zero_point";
  *g->add_initializer() = float_tensor(scale, {}, {p.scale_d});
  *g->add_initializer() = int8_tensor(zp, {}, {static_cast<int8_t>(p.offset_d)});
  q->set_op_type("QuantizeLinear");
  q->clear_attribute();
  q->add_input(scale);
  q->add_input(zp);
  const std::string quantized = q->output(0);
  std::vector<onnx::NodeProto> dequants;
  for (int r : find_consumers(*g, quantized)) {
    onnx::NodeProto* reader = g->mutable_node(r);
    const std::string dq = reader->name() + ".input_dequant";
    for (auto& in : *reader->mutable_input()) {
      if (in == quantized) in = out0(dq);
    }
    dequants.push_back(make_node("DequantizeLinear", dq, {quantized, scale, zp}, {out0(dq)}));
  }
  for (auto d = dequants.rbegin(); d != dequants.rend(); ++d) prepend_node(g, *d);
}

// The layer already computes in real units: its AscendDequant goes, and the
// graph output it carried (§12.3 renaming) is the layer's output again.
void remove_dequant(onnx::GraphProto* g, int i) {
  const onnx::NodeProto d = with_io(g->node(i), 2, 1);
  remove_node(g, i);
  remove_initializer(g, d.input(1));
  const std::string in = d.input(0), out = d.output(0);
  if (is_graph_output(*g, out)) {
    const int p = find_producer(*g, in);
    if (p < 0) throw_runtime_error("dequant '" + d.name() + "' reads a tensor no node makes");
    g->mutable_node(p)->set_output(0, out);
    rename_input(g, in, out);
  } else {
    rename_input(g, out, in);
  }
}

}  // namespace

void make_qdq_graph(onnx::GraphProto* g, const std::vector<LayerQuantParams>& layers) {
  std::map<std::string, const LayerQuantParams*> params;
  for (const auto& p : layers) {
    check_expressible(*g, p);
    params[p.layer] = &p;
  }
  for (const auto& p : layers) dequantize_weight_and_bias(g, p);
  std::vector<std::string> quants;
  for (const auto& n : g->node()) {
    if (n.op_type() == "AscendQuant") quants.push_back(with_io(n, 1, 1).name());
  }
  for (const auto& q : quants) replace_quant(g, q, params);
  for (int i = g->node_size() - 1; i >= 0; --i) {
    if (g->node(i).op_type() == "AscendDequant") {
      if (!ends_with(g->node(i).name(), kDequantSuffix)) {
        throw_runtime_error("AscendDequant node '" + g->node(i).name() + "' is not named "
                            "'<layer>.dequant'");
      }
      remove_dequant(g, i);
    }
  }
}

void use_uint8_activations(onnx::GraphProto* g) {
  std::set<std::string> zero_points;
  for (const auto& n : g->node()) {
    if (n.op_type() == "QuantizeLinear" && n.input_size() == 3) zero_points.insert(n.input(2));
  }
  for (const std::string& name : zero_points) {
    onnx::TensorProto* t = find_initializer(g, name);
    if (!t || t->data_type() != onnx::TensorProto::INT8) {
      throw_runtime_error("the zero point '" + name + "' of a QuantizeLinear is no int8 "
                          "initializer (a bug in OpenAMCT)");
    }
    const std::vector<int8_t> v = raw_values<int8_t>(*t);
    std::string bytes;
    for (int8_t z : v) bytes.push_back(static_cast<char>(static_cast<uint8_t>(z + 128)));
    t->set_data_type(onnx::TensorProto::UINT8);
    t->clear_int32_data();
    t->set_raw_data(bytes);
  }
}

void check_qdq_model(const onnx::ModelProto& m) {
  try {
    check_shape_inference_inputs(m.graph());
    onnx::checker::check_model(m);
    onnx::ModelProto inferred = m;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    // A modified ONNX from quantize_model always gives a valid model, so this is
    // a bug in OpenAMCT unless the modified ONNX was edited by hand.
    throw_runtime_error(std::string("the QDQ model fails the ONNX checker or shape inference "
                                    "(a bug in OpenAMCT if the modified ONNX is quantize_model's "
                                    "own): ") + e.what());
  }
}

}  // namespace onnx_passes
}  // namespace openamct
