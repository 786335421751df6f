// Opset 11 → 13 (see opset13.h). The schema registry says which ops changed
// after 11; each such op is either in kSameMeaning (only types or optional
// attributes with the old default were added: checked by hand against the
// ONNX change log) or rewritten below, and everything else is refused.
#include "onnx/opset13.h"

#include <onnx/defs/schema.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "onnx/onnx_graph.h"
#include "onnx/shape_inference_guard.h"
#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {
namespace {

constexpr int kTarget = 13;

// Changed between 11 and 13 only by new types, or by new attributes/inputs
// whose defaults keep the opset-11 meaning (ArgMax select_last_index,
// GatherND batch_dims, Resize's optional roi/scales, Constant's value_*; If
// and Loop gained sequence types: their subgraphs are converted like the graph).
const std::set<std::string> kSameMeaning = {
    "Abs", "Add", "ArgMax", "ArgMin", "Cast", "Ceil", "Clip", "Concat", "Constant",
    "DepthToSpace", "DequantizeLinear", "Div", "Equal", "Erf", "Exp", "Expand", "Flatten",
    "Floor", "Gather", "GatherElements", "GatherND", "Gemm", "Greater", "Identity", "If", "IsNaN",
    "LRN", "Less", "Log", "Loop", "MatMul", "Max", "MaxPool", "Mean", "MeanVarianceNormalization",
    "Min", "Mod", "Mul", "Neg", "NonZero", "Pad", "Pow", "QuantizeLinear", "Reciprocal",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSumSquare", "Relu", "Reshape", "Resize",
    "ScatterElements", "ScatterND", "Shape", "Sigmoid", "Sign", "Size", "Slice",
    "SpaceToDepth", "Sqrt", "Sub", "Sum", "Tanh", "Tile", "Transpose"};

[[noreturn]] void refuse(const onnx::NodeProto& n, const std::string& why) {
  throw_runtime_error("the QDQ model needs opset 13, and node '" + n.name() + "' (" +
                      n.op_type() + ") cannot be carried over from opset 11: " + why);
}

// The attribute `attr` (a list of ints) becomes input `index` as an int64
// initializer named `<node>.<attr>`; absent, the input is left out (13's
// default is the same as 11's: all axes, or equal split).
void attribute_to_input(onnx::GraphProto* g, onnx::NodeProto* n, const std::string& attr,
                        int index) {
  const onnx::AttributeProto* a = find_attribute(*n, attr);
  if (!a) return;
  if (n->input_size() != index) refuse(*n, "unexpected inputs besides the data");
  const std::vector<int64_t> values(a->ints().begin(), a->ints().end());
  // Named after the node's first output: output names are unique in the whole
  // model, subgraphs included (node names need not be).
  const std::string name = n->output(0) + "." + attr;
  *g->add_initializer() =
      int64_tensor(name, {static_cast<int64_t>(values.size())}, values);
  n->add_input(name);
  remove_attribute(n, attr);
}

// Ranks of every tensor whose shape inference knows the rank.
std::map<std::string, int> known_ranks(const onnx::ModelProto& m) {
  std::map<std::string, int> ranks;
  for (const auto& [name, dims] : inferred_dims(m)) ranks[name] = static_cast<int>(dims.size());
  return ranks;  // a softmax of unknown rank is refused by name below
}

// Softmax-11 flattens to 2-D at `axis` (default 1); Softmax-13 works along
// `axis` (default -1). They agree exactly when axis is the last one (-1, or
// rank - 1 when shape inference knows the rank): then the node only gets
// axis -1 and true is returned. Otherwise (another axis, or a rank shape
// inference cannot tell, as behind torch's dynamic-batch Reshapes) false: the
// caller spells opset 11's meaning out with flatten_softmax.
bool last_axis_softmax(onnx::NodeProto* n, const std::map<std::string, int>& ranks) {
  if (int_attribute(*n, "axis", 1) == -1) return true;  // the last axis whatever the rank
  const auto r = ranks.find(n->input(0));
  if (r == ranks.end()) return false;
  int64_t axis = int_attribute(*n, "axis", 1);
  if (axis < 0) axis += r->second;
  if (axis != r->second - 1) return false;
  set_int_attribute(n, "axis", -1);
  return true;
}

// Softmax-11(x, axis=a) for any rank: Flatten(x, a) -> Softmax-13(axis=-1) ->
// Reshape(Shape(x)). The flattened rows are exactly the 2-D coercion opset 11
// defines, so the values are the same.
std::vector<onnx::NodeProto> flatten_softmax(const onnx::NodeProto& n) {
  const std::string x = n.input(0), y = n.output(0);
  onnx::NodeProto flatten;
  flatten.set_op_type("Flatten");
  flatten.set_name(n.name() + "/flatten");
  flatten.add_input(x);
  flatten.add_output(y + ".flat");
  set_int_attribute(&flatten, "axis", int_attribute(n, "axis", 1));
  onnx::NodeProto shape;
  shape.set_op_type("Shape");
  shape.set_name(n.name() + "/shape");
  shape.add_input(x);
  shape.add_output(y + ".shape");
  onnx::NodeProto softmax = n;
  softmax.set_input(0, y + ".flat");
  softmax.set_output(0, y + ".2d");
  set_int_attribute(&softmax, "axis", -1);
  onnx::NodeProto reshape;
  reshape.set_op_type("Reshape");
  reshape.set_name(n.name() + "/reshape");
  reshape.add_input(y + ".2d");
  reshape.add_input(y + ".shape");
  reshape.add_output(y);
  return {flatten, shape, softmax, reshape};
}

void upgrade_graph(onnx::GraphProto* g, int from, const std::map<std::string, int>& ranks) {
  std::set<int> spelled_out;  // softmaxes replaced by flatten_softmax below
  for (int i = 0; i < g->node_size(); ++i) {
    onnx::NodeProto* n = g->mutable_node(i);
    if (!n->domain().empty() && n->domain() != "ai.onnx") {
      refuse(*n, "it is in domain '" + n->domain() + "'");
    }
    // torch exports a squeeze of a dynamic dimension as an If whose branches hold the
    // Squeeze: subgraphs are converted too (they may read the outer graph's tensors).
    for (auto& a : *n->mutable_attribute()) {
      if (a.type() == onnx::AttributeProto::GRAPH) upgrade_graph(a.mutable_g(), from, ranks);
      for (auto& sub : *a.mutable_graphs()) upgrade_graph(&sub, from, ranks);
    }
    const auto* now = onnx::OpSchemaRegistry::Schema(n->op_type(), from, "");
    const auto* then = onnx::OpSchemaRegistry::Schema(n->op_type(), kTarget, "");
    if (!now || !then) refuse(*n, "the op is unknown to ONNX at this opset");
    if (then->since_version() == now->since_version()) continue;
    const std::string& op = n->op_type();
    if (kSameMeaning.count(op)) {
      if (op == "Resize") {
        const auto* mode = find_attribute(*n, "coordinate_transformation_mode");
        if (mode && mode->s() == "tf_half_pixel_for_nn") refuse(*n, "mode removed in opset 13");
      }
      continue;
    }
    if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
      attribute_to_input(g, n, "axes", 1);
    } else if (op == "Split") {
      attribute_to_input(g, n, "split", 1);
    } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
      if (!last_axis_softmax(n, ranks)) spelled_out.insert(i);
    } else if (op == "Dropout") {
      remove_attribute(n, "ratio");  // inference: Dropout is the identity whatever the ratio
    } else {
      refuse(*n, "its definition changed in opset " + std::to_string(then->since_version()));
    }
  }
  if (spelled_out.empty()) return;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g->node_size(); ++i) {
    if (!spelled_out.count(i)) {
      *nodes.Add() = g->node(i);
      continue;
    }
    for (auto& part : flatten_softmax(g->node(i))) *nodes.Add() = std::move(part);
  }
  g->mutable_node()->Swap(&nodes);
}

}  // namespace

void upgrade_to_opset13(onnx::ModelProto* m) {
  onnx::OperatorSetIdProto* def = nullptr;
  for (auto& o : *m->mutable_opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") def = &o;
  }
  if (!def) throw_runtime_error("the modified ONNX has no default-domain opset import");
  if (def->version() == kTarget) return;
  if (def->version() < 11 || def->version() > kTarget) {
    throw_runtime_error("the modified ONNX is at opset " + std::to_string(def->version()) +
                        "; the QDQ model is made from opset 11 (torch.onnx.export's in the flow)");
  }
  const int from = static_cast<int>(def->version());
  upgrade_graph(m->mutable_graph(), from, known_ranks(*m));
  def->set_version(kTarget);
}

}  // namespace onnx_passes
}  // namespace openamct
