// The qdq_full pass (see qdq_full_pass.h): output quantizers for the layers
// that feed residual Adds, and DequantizeLinear inputs for those Adds.
#include "onnx/qdq_full_pass.h"

#include <map>

#include "onnx/onnx_graph.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

std::string out0(const std::string& node) { return node + ".output0"; }

bool is_constant(const onnx::GraphProto& g, const std::string& tensor) {
  if (find_initializer(g, tensor)) return true;
  const int p = find_producer(g, tensor);
  return p >= 0 && g.node(p).op_type() == "Constant";
}

// The first QuantizeLinear (list order) that reads `tensor`, or nullptr.
const onnx::NodeProto* quantizer_of(const onnx::GraphProto& g, const std::string& tensor) {
  for (int c : find_consumers(g, tensor)) {
    const onnx::NodeProto& n = g.node(c);
    if (n.op_type() == "QuantizeLinear" && n.input_size() == 3 && n.input(0) == tensor) return &n;
  }
  return nullptr;
}

onnx::NodeProto output_quantizer(onnx::GraphProto* g, const std::string& tensor,
                                 const OutputQuantParams& p) {
  if (p.offset < -128 || p.offset > 127) {
    throw_runtime_error("the output scales give layer '" + p.layer + "' the offset " +
                        std::to_string(p.offset) + ", outside int8's [-128, 127]");
  }
  const std::string q = p.layer + ".output_quant";
  *g->add_initializer() = float_tensor(q + ".scale", {}, {p.scale});
  *g->add_initializer() = int8_tensor(q + ".zero_point", {}, {static_cast<int8_t>(p.offset)});
  return make_node("QuantizeLinear", q, {tensor, q + ".scale", q + ".zero_point"}, {out0(q)});
}

}  // namespace

bool is_residual_add(const onnx::GraphProto& g, const onnx::NodeProto& n) {
  return n.op_type() == "Add" && n.input_size() == 2 && n.output_size() == 1 &&
         !is_constant(g, n.input(0)) && !is_constant(g, n.input(1));
}

std::vector<std::string> residual_output_layers(const onnx::GraphProto& g,
                                                const std::vector<std::string>& layers) {
  std::vector<std::string> out;
  for (const std::string& layer : layers) {
    const int i = find_node(g, layer);
    if (i < 0 || g.node(i).output_size() < 1) continue;
    for (int c : find_consumers(g, g.node(i).output(0))) {
      if (is_residual_add(g, g.node(c))) {
        out.push_back(layer);
        break;
      }
    }
  }
  return out;
}

void make_qdq_full_graph(onnx::GraphProto* g, const std::vector<std::string>& layers,
                         const std::vector<OutputQuantParams>& outputs) {
  std::map<std::string, const OutputQuantParams*> by_layer;
  for (const auto& o : outputs) by_layer[o.layer] = &o;
  std::vector<onnx::NodeProto> added;
  for (const std::string& layer : residual_output_layers(*g, layers)) {
    const auto it = by_layer.find(layer);
    if (it == by_layer.end()) {
      throw_runtime_error("layer '" + layer + "' feeds a residual Add, but the output scales "
                          "have no entry for it; calibrate with quantize_model(..., "
                          "qdq_full=True) for this model, or save without \"qdq_full\"");
    }
    added.push_back(output_quantizer(g, g->node(find_node(*g, layer)).output(0), *it->second));
  }
  for (auto q = added.rbegin(); q != added.rend(); ++q) prepend_node(g, *q);

  // Every residual Add reads its quantized inputs through a DequantizeLinear of its own.
  std::vector<onnx::NodeProto> dequants;
  for (int i = 0; i < g->node_size(); ++i) {
    if (!is_residual_add(*g, g->node(i))) continue;
    for (int k = 0; k < 2; ++k) {
      const onnx::NodeProto* q = quantizer_of(*g, g->node(i).input(k));
      if (!q) continue;
      const onnx::NodeProto& add = g->node(i);
      const std::string dq = (add.name().empty() ? add.output(0) : add.name()) + ".input" +
                             std::to_string(k) + "_dequant";
      dequants.push_back(
          make_node("DequantizeLinear", dq, {q->output(0), q->input(1), q->input(2)}, {out0(dq)}));
      g->mutable_node(i)->set_input(k, out0(dq));
    }
  }
  for (auto d = dequants.rbegin(); d != dequants.rend(); ++d) prepend_node(g, *d);
}

}  // namespace onnx_passes
}  // namespace openamct
