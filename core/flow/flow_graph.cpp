// Graph facts and initializer writes of the calibration flow (flow_graph.h).
#include "flow/flow_graph.h"

#include <cstring>
#include <map>
#include <optional>

#include "onnx/onnx_graph.h"
#include "openamct/algorithms.h"
#include "openamct/errors.h"

namespace openamct {
namespace flow {
namespace {

using onnx_passes::find_consumers;
using onnx_passes::find_initializer;
using onnx_passes::find_node;
using onnx_passes::find_producer;
using onnx_passes::is_graph_output;

// "<m>.sub_module.<param>" or "<m>.<param>" -> "<m>"; "" when neither.
std::string module_of(const std::string& initializer, const std::string& param) {
  for (const std::string& suffix : {".sub_module." + param, "." + param}) {
    if (initializer.size() > suffix.size() &&
        initializer.compare(initializer.size() - suffix.size(), suffix.size(), suffix) == 0)
      return initializer.substr(0, initializer.size() - suffix.size());
  }
  return "";
}

// Quantisable ONNX ops (§11.4) and how their input channels follow from the
// weight initializer's dims.
enum class ChannelRule { kConv, kDim0, kGemm, kRnn, kNone };
const std::map<std::string, ChannelRule>& quantisable_ops() {
  static const std::map<std::string, ChannelRule> table = {
      {"Conv", ChannelRule::kConv},   {"ConvTranspose", ChannelRule::kDim0},
      {"MatMul", ChannelRule::kDim0}, {"Gemm", ChannelRule::kGemm},
      {"AveragePool", ChannelRule::kNone}, {"LSTM", ChannelRule::kRnn},
      {"GRU", ChannelRule::kRnn},
  };
  return table;
}

onnx::TensorProto tensor_proto(const std::string& name, const at::Tensor& value) {
  const at::Tensor v = value.detach().cpu().contiguous();
  onnx::TensorProto t;
  t.set_name(name);
  for (int64_t d : v.sizes()) t.add_dims(d);
  if (v.scalar_type() == at::kHalf) {
    t.set_data_type(onnx::TensorProto::FLOAT16);
  } else if (v.scalar_type() == at::kFloat) {
    t.set_data_type(onnx::TensorProto::FLOAT);
  } else {
    throw_type_error("parameter " + name + " has dtype " + std::string(c10::toString(
                     v.scalar_type())) + "; only float32 and float16 weights are written");
  }
  t.set_raw_data(std::string(static_cast<const char*>(v.data_ptr()), v.nbytes()));
  return t;
}

bool same_dims(const onnx::TensorProto& t, at::IntArrayRef sizes) {
  if (t.dims_size() != static_cast<int>(sizes.size())) return false;
  for (int i = 0; i < t.dims_size(); ++i)
    if (t.dims(i) != sizes[i]) return false;
  return true;
}

// The value of a one-element constant input (initializer or Constant node).
std::optional<float> scalar_constant(const onnx::GraphProto& g, const std::string& tensor) {
  if (const onnx::TensorProto* t = find_initializer(g, tensor)) {
    const std::vector<float> v = onnx_passes::float_values(*t);
    if (v.size() == 1) return v[0];
    return std::nullopt;
  }
  const int p = find_producer(g, tensor);
  if (p < 0 || g.node(p).op_type() != "Constant") return std::nullopt;
  const onnx::AttributeProto* a = onnx_passes::find_attribute(g.node(p), "value");
  if (!a || !a->has_t() || a->t().data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  const std::vector<float> v = onnx_passes::float_values(a->t());
  if (v.size() == 1) return v[0];
  return std::nullopt;
}

// True when an op of type `op` is reachable from `tensor` in at most `depth` nodes.
bool reaches(const onnx::GraphProto& g, const std::string& tensor, const std::string& op,
             int depth) {
  if (depth == 0) return false;
  for (int c : find_consumers(g, tensor)) {
    const onnx::NodeProto& n = g.node(c);
    if (n.op_type() == op) return true;
    for (const auto& out : n.output())
      if (reaches(g, out, op, depth - 1)) return true;
  }
  return false;
}

}  // namespace

int node_position(const onnx::GraphProto& g, const std::string& layer) {
  return find_node(g, layer);
}

FollowingActivation following_activation(const onnx::GraphProto& g, const std::string& layer) {
  FollowingActivation none;
  const int i = find_node(g, layer);
  if (i < 0 || g.node(i).output_size() < 1) return none;
  std::string out = g.node(i).output(0);
  std::vector<int> consumers = find_consumers(g, out);
  // K9: a Linear exported as MatMul has its bias in the Add that follows.
  if (g.node(i).op_type() == "MatMul" && consumers.size() == 1 && !is_graph_output(g, out) &&
      g.node(consumers[0]).op_type() == "Add" && g.node(consumers[0]).output_size() == 1) {
    out = g.node(consumers[0]).output(0);
    consumers = find_consumers(g, out);
  }
  if (consumers.empty() || is_graph_output(g, out)) return none;
  FollowingActivation f;
  if (consumers.size() == 1) {
    const onnx::NodeProto& n = g.node(consumers[0]);
    const std::string& op = n.op_type();
    if (op == "Relu" || op == "Sigmoid" || op == "Tanh") {
      f.kind = op;
    } else if (op == "LeakyRelu") {
      f.kind = op;
      const onnx::AttributeProto* a = onnx_passes::find_attribute(n, "alpha");
      if (a) f.alpha = a->f();
    } else if (op == "PRelu" && n.input_size() == 2) {
      const onnx::TensorProto* t = find_initializer(g, n.input(1));
      if (!t) return none;
      f.kind = op;
      f.slope = onnx_passes::float_values(*t);
    } else if (op == "Clip" && n.input_size() == 3) {
      const auto lo = scalar_constant(g, n.input(1)), hi = scalar_constant(g, n.input(2));
      if (!lo || !hi || *lo != 0.0f || *hi != 6.0f) return none;
      f.kind = "Relu6";
    }
    return f;
  }
  // GELU at opset 11 is a subgraph reading the layer output several times:
  // erf form x * (1 + erf(x / sqrt 2)) * 0.5 (a Div into Erf, and a Mul); tanh
  // form 0.5 * x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Muls and an Add).
  bool only_elementwise = true, div_into_erf = false;
  for (int c : consumers) {
    const onnx::NodeProto& n = g.node(c);
    const std::string& op = n.op_type();
    if (op == "Div" && n.output_size() == 1) {
      const std::vector<int> next = find_consumers(g, n.output(0));
      div_into_erf = next.size() == 1 && g.node(next[0]).op_type() == "Erf";
    } else if (op != "Mul" && op != "Add") {
      only_elementwise = false;
    }
  }
  if (only_elementwise && div_into_erf && consumers.size() == 2) {
    f.kind = "GeluErf";
  } else if (only_elementwise && !div_into_erf && consumers.size() >= 3 &&
             reaches(g, out, "Tanh", 4)) {
    f.kind = "GeluTanh";
  }
  return f;
}

std::vector<ConvBnPair> find_conv_bn_pairs(const onnx::GraphProto& g) {
  std::vector<ConvBnPair> pairs;
  for (const auto& n : g.node()) {
    if (n.op_type() != "BatchNormalization" || n.input_size() < 2) continue;
    const int p = find_producer(g, n.input(0));
    if (p < 0) continue;
    const onnx::NodeProto& conv = g.node(p);
    if (conv.op_type() != "Conv" || conv.input_size() < 2 || conv.output_size() != 1) continue;
    if (find_consumers(g, conv.output(0)).size() != 1 || is_graph_output(g, conv.output(0)))
      continue;
    const std::string conv_name = module_of(conv.input(1), "weight");
    const std::string bn_name = module_of(n.input(1), "weight");
    if (conv_name.empty() || bn_name.empty()) continue;
    pairs.push_back({conv_name, bn_name});
  }
  return pairs;
}

std::vector<RecordGraphLayer> record_graph_layers(const onnx::GraphProto& g) {
  std::vector<RecordGraphLayer> out;
  for (const auto& n : g.node()) {
    RecordGraphLayer l;
    l.name = n.name();
    auto rule = quantisable_ops().find(n.op_type());
    l.quantizable = rule != quantisable_ops().end();
    l.is_avg_pool = n.op_type() == "AveragePool";
    l.is_rnn = n.op_type() == "LSTM" || n.op_type() == "GRU";
    if (l.quantizable && rule->second != ChannelRule::kNone && n.input_size() > 1) {
      const onnx::TensorProto* w = find_initializer(g, n.input(1));
      if (w && w->dims_size() >= 2) {
        switch (rule->second) {
          case ChannelRule::kConv:
            l.input_channels = w->dims(1) * onnx_passes::int_attribute(n, "group", 1);
            break;
          case ChannelRule::kDim0: l.input_channels = w->dims(0); break;
          case ChannelRule::kRnn:  // W: (directions, gates * hidden, In)
            if (w->dims_size() == 3) l.input_channels = w->dims(2);
            break;
          case ChannelRule::kGemm:
            l.input_channels = onnx_passes::int_attribute(n, "transB", 0) ? w->dims(1) : w->dims(0);
            break;
          case ChannelRule::kNone: break;
        }
      }
    }
    out.push_back(l);
  }
  return out;
}

std::string parameter_initializer(const onnx::GraphProto& g, const std::string& layer,
                                  const std::string& param) {
  for (const std::string& name : {layer + ".sub_module." + param, layer + "." + param}) {
    if (find_initializer(g, name)) return name;
  }
  return "";
}

void write_parameter(onnx::GraphProto* g, const std::string& layer, const std::string& param,
                     const at::Tensor& value) {
  const std::string name = parameter_initializer(*g, layer, param);
  if (!name.empty()) {
    onnx::TensorProto* t = find_initializer(g, name);
    if (!same_dims(*t, value.sizes()))
      throw_runtime_error("initializer " + name + " does not have the shape of the parameter " +
                          c10::str(value.sizes()));
    *t = tensor_proto(name, value);
    return;
  }
  const int i = find_node(*g, layer);
  // An RNN's weights, which the exporter folds into the node's W (input 1)
  // and R (input 2) in ONNX gate order with a leading direction axis (§15).
  const bool rnn = i >= 0 && (g->node(i).op_type() == "LSTM" || g->node(i).op_type() == "GRU");
  if (rnn && (param == "weight_ih_l0" || param == "weight_hh_l0") && value.dim() == 2) {
    const int input = param == "weight_ih_l0" ? 1 : 2;
    onnx::TensorProto* t = g->node(i).input_size() > input
                               ? find_initializer(g, g->node(i).input(input)) : nullptr;
    const at::Tensor onnx_order =
        algorithms::rnn_gates_to_onnx(algorithms::parse_rnn_kind(g->node(i).op_type()), value)
            .unsqueeze(0);
    if (t && same_dims(*t, onnx_order.sizes())) {
      *t = tensor_proto(t->name(), onnx_order);
      return;
    }
  }
  // A Linear's weight folded by the exporter into a transposed constant (§8.3).
  if (param == "weight" && i >= 0 && g->node(i).op_type() == "MatMul" && value.dim() == 2) {
    onnx::TensorProto* t = find_initializer(g, g->node(i).input(1));
    const at::Tensor transposed = value.t().contiguous();
    if (t && same_dims(*t, transposed.sizes())) {
      *t = tensor_proto(t->name(), transposed);
      return;
    }
  }
  throw_runtime_error("layer " + layer + ": no initializer for its " + param +
                      " in the exported ONNX graph; the model and the graph do not match");
}

}  // namespace flow
}  // namespace openamct
