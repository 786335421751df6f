// The modified-ONNX pass (see modified_pass.h). Order of the steps: rename
// from the markers (they say which node is which module), drop the markers,
// remove fused BatchNorms, add fused biases, mark enabled layers, then clean
// the graph's interface and order the nodes.
#include "onnx/modified_pass.h"

#include <map>
#include <set>

#include "onnx/node_order.h"
#include "onnx/onnx_graph.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

bool is_marker(const onnx::NodeProto& n) {
  if (n.op_type() != kMarkerOp || n.domain() != kMarkerDomain) return false;
  with_io(n, 1, 1);
  return true;
}

std::string marker_layer(const onnx::NodeProto& n) {
  const auto* a = find_attribute(n, kMarkerLayerAttribute);
  if (!a) throw_runtime_error("marker node '" + n.name() + "' has no layer attribute");
  return a->s();
}

// Ops that sit between a marker and the module's main node, with the suffix
// their node gets: the main node is the one after them (§12.1).
const std::map<std::string, std::string>& leading_op_suffixes() {
  static const std::map<std::string, std::string> table = {
      {"Pad", "_pad"},              // AvgPool2d with count_include_pad
      {"Transpose", "_transpose"},  // layouts the exporter transposes first
  };
  return table;
}

// An LSTM / GRU module's node: the first RNN node downstream of its marker
// (§12.1). Without an initial state the exporter builds zero h0 / c0 from the
// input's Shape before the node, so the marker's first reader after the
// Transpose is a Shape. Only nodes of the module's own scope count: the
// marker's ("/enc/enc.0/rnn/"), then "sub_module...".
int rnn_node_after(const onnx::GraphProto& g, const onnx::NodeProto& marker) {
  const std::string& m = marker.name();
  const std::string scope = m.substr(0, m.rfind('/') + 1) + "sub_module";
  const std::string tensor = marker.output(0);
  std::vector<std::string> frontier{tensor};
  std::set<int> seen;
  while (!frontier.empty()) {
    std::vector<std::string> next;
    for (const auto& t : frontier) {
      for (int c : find_consumers(g, t)) {
        if (!seen.insert(c).second) continue;
        const onnx::NodeProto& n = g.node(c);
        if (n.name().rfind(scope, 0) != 0) continue;
        if (n.op_type() == "LSTM" || n.op_type() == "GRU") return c;
        for (const auto& o : n.output()) next.push_back(o);
      }
    }
    frontier = std::move(next);
  }
  return -1;
}

// Names the node that consumes a marker's output after the module; a second
// call of the same module gets the name plus "1", then "2", ...
void rename_from_markers(onnx::GraphProto* g) {
  std::map<std::string, int> calls;
  for (int i = 0; i < g->node_size(); ++i) {
    if (!is_marker(g->node(i))) continue;
    const std::string layer = marker_layer(g->node(i));
    const int call = calls[layer]++;
    const std::string name = call == 0 ? layer : layer + std::to_string(call);
    auto consumers = find_consumers(*g, g->node(i).output(0));
    if (consumers.empty()) continue;
    onnx::NodeProto* target = g->mutable_node(consumers.front());
    const int rnn = rnn_node_after(*g, g->node(i));
    auto lead = leading_op_suffixes().find(target->op_type());
    if (rnn >= 0) {
      if (lead != leading_op_suffixes().end() && consumers.front() != rnn)
        target->set_name(name + lead->second);
      g->mutable_node(rnn)->set_name(name);
      continue;
    }
    if (lead != leading_op_suffixes().end()) {
      auto next = find_consumers(*g, with_io(*target, 1, 1).output(0));
      target->set_name(name + lead->second);
      if (next.empty()) continue;
      target = g->mutable_node(next.front());
    }
    target->set_name(name);
  }
}

// Removes a node that passes its input 0 through: its readers read that input.
void bypass_node(onnx::GraphProto* g, int index) {
  const std::string in = with_io(g->node(index), 1, 1).input(0);
  const std::string out = g->node(index).output(0);
  if (is_graph_output(*g, out)) {
    // The graph output keeps its name: the producer of `in` now writes it.
    const int p = find_producer(*g, in);
    if (p < 0) throw_runtime_error("node '" + g->node(index).name() + "' links a graph input "
                                   "straight to a graph output; nothing to quantise there");
    for (auto& o : *g->mutable_node(p)->mutable_output()) {
      if (o == in) o = out;
    }
    rename_input(g, in, out, index);
  } else {
    rename_input(g, out, in, index);
  }
  remove_node(g, index);
}

void remove_markers(onnx::GraphProto* g) {
  for (int i = g->node_size() - 1; i >= 0; --i) {
    if (is_marker(g->node(i))) bypass_node(g, i);
  }
}

int require_node(const onnx::GraphProto& g, const std::string& layer, const char* what) {
  const int i = find_node(g, layer);
  if (i < 0) {
    throw_runtime_error("layer '" + layer + "' (" + what + ") has no node in the exported ONNX "
                        "graph; the model and the layer list do not match");
  }
  return i;
}

void remove_fused_batchnorm(onnx::GraphProto* g, const std::string& bn) {
  const int i = require_node(*g, bn, "fused BatchNorm");
  const onnx::NodeProto node = g->node(i);
  if (node.op_type() != "BatchNormalization" || node.input_size() != 5) {
    throw_runtime_error("BatchNorm node should only have 5 input actually have " +
                        std::to_string(node.input_size()) + " (node '" + bn + "', op " +
                        node.op_type() + ")");
  }
  bypass_node(g, i);
  for (int k = 1; k < 5; ++k) {
    if (!is_read(*g, node.input(k))) remove_initializer(g, node.input(k));
  }
}

void add_conv_bias(onnx::GraphProto* g, const std::string& conv, const std::vector<float>& bias) {
  onnx::NodeProto* node = g->mutable_node(require_node(*g, conv, "fused convolution"));
  if (node->input_size() > 2 && !node->input(2).empty()) {
    throw_runtime_error("convolution '" + conv + "' already has a bias input '" +
                        node->input(2) + "'; only a bias-less conv gets '" + conv + ".bias'");
  }
  const std::string name = conv + ".bias";
  if (node->input_size() == 2) {
    node->add_input(name);
  } else {
    node->set_input(2, name);
  }
  *g->add_initializer() = float_tensor(name, {static_cast<int64_t>(bias.size())}, bias);
}

void drop_initializer_inputs(onnx::GraphProto* g) {
  std::set<std::string> inits;
  for (const auto& t : g->initializer()) inits.insert(t.name());
  auto* inputs = g->mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i) {
    if (inits.count(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1);
  }
}

// value_info entries of tensors that no node writes any more (marker and
// BatchNorm outputs) would describe nothing.
void drop_stale_value_info(onnx::GraphProto* g) {
  std::set<std::string> produced;
  for (const auto& n : g->node()) produced.insert(n.output().begin(), n.output().end());
  auto* vi = g->mutable_value_info();
  for (int i = vi->size() - 1; i >= 0; --i) {
    if (!produced.count(vi->Get(i).name())) vi->DeleteSubrange(i, 1);
  }
}

void drop_marker_opset(onnx::ModelProto* m) {
  auto* ops = m->mutable_opset_import();
  for (int i = ops->size() - 1; i >= 0; --i) {
    if (ops->Get(i).domain() == kMarkerDomain) ops->DeleteSubrange(i, 1);
  }
}

void name_unnamed_nodes(onnx::GraphProto* g) {
  for (int i = 0; i < g->node_size(); ++i) {
    if (g->node(i).name().empty()) g->mutable_node(i)->set_name("node_" + std::to_string(i));
  }
}

}  // namespace

void name_exported_model(onnx::ModelProto* model) {
  onnx::GraphProto* g = model->mutable_graph();
  drop_initializer_inputs(g);  // first: fused BatchNorm parameters are initializers too
  rename_from_markers(g);
  remove_markers(g);
}

void make_modified_model(onnx::ModelProto* model, const ModifiedOnnxSpec& spec) {
  name_exported_model(model);
  finish_modified_model(model, spec);
}

void finish_modified_model(onnx::ModelProto* model, const ModifiedOnnxSpec& spec) {
  onnx::GraphProto* g = model->mutable_graph();
  for (const auto& bn : spec.fused_batchnorms) remove_fused_batchnorm(g, bn);
  for (const auto& [conv, bias] : spec.new_conv_biases) add_conv_bias(g, conv, bias);
  for (const auto& [layer, dtype] : spec.op_data_types) {
    set_string_attribute(g->mutable_node(require_node(*g, layer, "enabled layer")),
                         "op_data_type", dtype);
  }
  drop_stale_value_info(g);
  drop_marker_opset(model);
  name_unnamed_nodes(g);
  order_nodes(g);
}

}  // namespace onnx_passes
}  // namespace openamct
