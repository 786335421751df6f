// TorchScriptSource: the module hierarchy and the static facts of every
// module. The run facts come from forward_observer.cpp.
//
// Where the facts are:
//  * scripted modules keep nn.Module's attributes: tensors and Optional
//    values as attributes, the `__constants__` (padding_mode, dilation,
//    groups, num_layers, hidden_size, ...) as class constants;
//  * traced modules keep only parameters, buffers and submodules. Their facts
//    are the constant arguments of the ops in the module's own forward graph:
//    dilation and groups of the convolution op, the padding op that feeds it
//    (`aten::pad` with its mode, `aten::reflection_pad*`, ...) for the
//    padding mode, num_layers / dropout / bidirectional of `aten::lstm` /
//    `aten::gru`; hidden_size and proj_size come from the shapes of
//    `weight_hh_l0` and `weight_hr_l0`. A traced module that never ran has no
//    forward graph: it gets the defaults (padding "zeros", dilation 1) — it is
//    excluded as not executed anyway.
#include "capture/torchscript_source.h"

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include "capture/forward_observer.h"
#include "openamct/errors.h"
#include "rules/capability_table.h"

namespace openamct {
namespace {

using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;
using ObjectPtr = const c10::ivalue::Object*;

// ---- small helpers on module objects ---------------------------------------

bool is_module(const c10::IValue& v) {
  return v.isObject() && v.toObjectRef().type()->is_module();
}

// `__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d` -> `Conv2d`.
std::string class_name(const Module& m) {
  const auto& qualified = m.type()->name();
  return qualified ? qualified->name() : std::string();
}

// The qualified name without torch's `___torch_mangle_<n>` atoms, so that the
// copies torch makes of one Python class compare equal.
std::string unmangled_qualified_name(const Module& m) {
  const auto& qualified = m.type()->name();
  if (!qualified) return {};
  std::string out;
  for (const auto& atom : qualified->atoms()) {
    if (atom.rfind("___torch_mangle_", 0) == 0) continue;
    if (!out.empty()) out += '.';
    out += atom;
  }
  return out;
}

// What the module holds under `name`: an attribute (parameters, buffers,
// submodules, plain attributes) or a class constant (scripted modules keep
// nn.Module's `__constants__` there).
std::optional<c10::IValue> module_value(const Module& m, const std::string& name) {
  if (auto slot = m.type()->findAttributeSlot(name)) return m._ivalue()->getSlot(*slot);
  if (auto constant = m.type()->findConstant(name)) return *constant;
  return std::nullopt;
}

std::optional<at::Tensor> module_tensor(const Module& m, const std::string& name) {
  auto v = module_value(m, name);
  if (v && v->isTensor() && v->toTensor().defined()) return v->toTensor();
  return std::nullopt;
}

std::optional<std::vector<int64_t>> int_list(const c10::IValue& v) {
  if (v.isInt()) return std::vector<int64_t>{v.toInt()};
  if (v.isIntList()) return v.toIntVector();
  if (v.isTuple() || v.isList()) {
    std::vector<int64_t> out;
    const auto elements = v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    for (const auto& e : elements) {
      if (!e.isInt()) return std::nullopt;
      out.push_back(e.toInt());
    }
    return out;
  }
  return std::nullopt;
}

// The first defined tensor of the module's subtree, in slot order.
const c10::TensorImpl* first_tensor(const Module& m) {
  const auto& object = m._ivalue();
  for (size_t i = 0; i < m.type()->numAttributes(); ++i) {
    const c10::IValue& v = object->getSlot(i);
    if (v.isTensor() && v.toTensor().defined()) return v.toTensor().unsafeGetTensorImpl();
    if (is_module(v)) {
      if (const auto* t = first_tensor(Module(v.toObject()))) return t;
    }
  }
  return nullptr;
}

// Whether `b` is a TorchScript copy of the same nn.Module as `a`. Scripting
// and tracing turn a module registered under two names into two objects:
// scripting gives them one class, tracing gives the later one no methods
// (the tracer sends every call to the first name). Both keep the very same
// parameter and buffer tensors. A shallow copy (copy.copy) of a module looks
// the same and is treated the same way.
bool same_module(const Module& a, const Module& b) {
  if (a._ivalue() == b._ivalue()) return true;
  if (unmangled_qualified_name(a) != unmangled_qualified_name(b)) return false;
  const auto& ta = a.type();
  const auto& tb = b.type();
  if (ta != tb && !tb->methods().empty()) return false;
  if (ta->numAttributes() != tb->numAttributes()) return false;
  for (size_t i = 0; i < ta->numAttributes(); ++i) {
    if (ta->getAttributeName(i) != tb->getAttributeName(i)) return false;
    const c10::IValue& va = a._ivalue()->getSlot(i);
    const c10::IValue& vb = b._ivalue()->getSlot(i);
    if (va.isTensor() || vb.isTensor()) {
      if (!va.isTensor() || !vb.isTensor() ||
          va.toTensor().unsafeGetTensorImpl() != vb.toTensor().unsafeGetTensorImpl())
        return false;
    } else if (is_module(va) || is_module(vb)) {
      if (!is_module(va) || !is_module(vb) ||
          !same_module(Module(va.toObject()), Module(vb.toObject())))
        return false;
    } else if (va.isNone() != vb.isNone()) {
      return false;
    }
  }
  return true;
}

// ---- the hierarchy: Python's named_modules() ---------------------------------

struct HierarchyEntry {
  std::string name;
  Module module;
};

class ModuleHierarchy {
 public:
  explicit ModuleHierarchy(const Module& root) { visit(root, ""); }

  const std::vector<HierarchyEntry>& entries() const { return entries_; }
  const RecordIndex& record_of() const { return record_of_; }

 private:
  void visit(const Module& m, const std::string& name) {
    ObjectPtr object = m._ivalue().get();
    if (record_of_.count(object)) return;  // one object, several names: first wins
    const c10::TensorImpl* signature = first_tensor(m);
    if (signature) {
      auto it = by_first_tensor_.find(signature);
      if (it != by_first_tensor_.end()) {
        for (size_t candidate : it->second) {
          if (same_module(entries_[candidate].module, m)) {
            map_alias(m, entries_[candidate].module);
            return;
          }
        }
      }
    }
    const size_t index = entries_.size();
    record_of_[object] = index;
    entries_.push_back({name, m});
    if (signature) by_first_tensor_[signature].push_back(index);
    for (const auto& child : m.named_children())
      visit(child.value, name.empty() ? child.name : name + "." + child.name);
  }

  // Every object of the alias's subtree counts toward its original's record.
  void map_alias(const Module& alias, const Module& original) {
    ObjectPtr object = alias._ivalue().get();
    if (record_of_.count(object)) return;
    auto it = record_of_.find(original._ivalue().get());
    OPENAMCT_INTERNAL_ASSERT(it != record_of_.end(),
                             "the original of an aliased module was not visited");
    record_of_[object] = it->second;
    for (const auto& child : alias.named_children())
      map_alias(child.value, Module(module_value(original, child.name)->toObject()));
  }

  std::vector<HierarchyEntry> entries_;
  RecordIndex record_of_;
  std::unordered_map<const c10::TensorImpl*, std::vector<size_t>> by_first_tensor_;
};

// ---- facts from a traced module's forward graph ----------------------------

std::shared_ptr<torch::jit::Graph> forward_graph(const Module& m) {
  if (auto forward = m.find_method("forward")) return forward->graph();
  for (const auto& method : m.get_methods())
    if (is_forward_method(method.name())) return method.graph();
  return nullptr;
}

// A constant value, or a list built from int constants.
std::optional<c10::IValue> constant_of(const Value* v) {
  if (auto constant = torch::jit::toIValue(v)) return constant;
  const Node* n = v->node();
  if (n->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<int64_t> ints;
  for (const Value* in : n->inputs()) {
    auto constant = torch::jit::toIValue(in);
    if (!constant || !constant->isInt()) return std::nullopt;
    ints.push_back(constant->toInt());
  }
  return c10::IValue(ints);
}

// The constant passed as argument `arg` (by schema name) of op node `n`.
std::optional<c10::IValue> constant_argument(const Node* n, const char* arg) {
  const c10::FunctionSchema* schema = n->maybeSchema();
  if (!schema) return std::nullopt;
  auto index = schema->argumentIndexWithName(arg);
  if (!index || static_cast<size_t>(*index) >= n->inputs().size()) return std::nullopt;
  return constant_of(n->input(*index));
}

bool is_kind(const Node* n, std::initializer_list<const char*> kinds) {
  const std::string kind = n->kind().toQualString();
  for (const char* k : kinds)
    if (kind == k) return true;
  return false;
}

const Node* find_op(const torch::jit::Graph& graph, std::initializer_list<const char*> kinds) {
  for (const Node* n : graph.nodes())
    if (is_kind(n, kinds)) return n;
  return nullptr;
}

const std::initializer_list<const char*> kConvolutionOps = {
    "aten::_convolution", "aten::convolution",       "aten::_convolution_mode",
    "aten::conv1d",       "aten::conv2d",            "aten::conv3d",
    "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d"};
const std::initializer_list<const char*> kRecurrentOps = {"aten::lstm", "aten::gru",
                                                          "aten::rnn_tanh", "aten::rnn_relu"};

// The padding mode of a traced convolution: the op that pads its input.
std::string traced_padding_mode(const Node* conv) {
  const Node* pad = conv->input(0)->node();
  if (is_kind(pad, {"aten::pad"})) {
    auto mode = constant_argument(pad, "mode");
    if (mode && mode->isString()) return mode->toStringRef();
  }
  if (is_kind(pad, {"aten::reflection_pad1d", "aten::reflection_pad2d", "aten::reflection_pad3d"}))
    return "reflect";
  if (is_kind(pad, {"aten::replication_pad1d", "aten::replication_pad2d",
                    "aten::replication_pad3d"}))
    return "replicate";
  if (is_kind(pad, {"aten::_pad_circular"})) return "circular";
  return "zeros";
}

// ---- static facts -------------------------------------------------------------

struct StaticFacts {
  ModuleRecord record;
  const c10::TensorImpl* weight = nullptr;
};

void read_convolution_facts(const Module& m, const LayerCapability* capability,
                            const torch::jit::Graph* graph, ModuleRecord& r) {
  // Scripted modules: attributes and class constants.
  if (auto v = module_value(m, "padding_mode"); v && v->isString())
    r.padding_mode = v->toStringRef();
  if (auto v = module_value(m, "dilation")) {
    if (auto d = int_list(*v)) r.dilation = *d;
  }
  if (auto v = module_value(m, "groups"); v && v->isInt()) r.groups = v->toInt();

  // Traced modules: from the convolution op of their forward graph.
  if (!capability->is_convolution()) return;
  const Node* conv = graph ? find_op(*graph, kConvolutionOps) : nullptr;
  if (r.padding_mode.empty())
    r.padding_mode = conv ? traced_padding_mode(conv) : "zeros";
  if (r.dilation.empty()) {
    if (auto d = conv ? constant_argument(conv, "dilation") : std::nullopt) {
      if (auto list = int_list(*d)) r.dilation = *list;
    }
    if (r.dilation.empty() && r.weight_shape.size() > 2)  // never ran: the default
      r.dilation.assign(r.weight_shape.size() - 2, 1);
  }
  if (!module_value(m, "groups") && conv) {
    if (auto g = constant_argument(conv, "groups"); g && g->isInt()) r.groups = g->toInt();
  }
}

void read_recurrent_facts(const Module& m, const torch::jit::Graph* graph, ModuleRecord& r) {
  bool known_layers = false, known_dropout = false, known_direction = false;
  bool known_hidden = false, known_projection = false;
  if (auto v = module_value(m, "num_layers"); v && v->isInt()) {
    r.num_layers = v->toInt();
    known_layers = true;
  }
  if (auto v = module_value(m, "dropout"); v && (v->isDouble() || v->isInt())) {
    r.dropout = v->isDouble() ? v->toDouble() : static_cast<double>(v->toInt());
    known_dropout = true;
  }
  if (auto v = module_value(m, "bidirectional"); v && v->isBool()) {
    r.bidirectional = v->toBool();
    known_direction = true;
  }
  if (auto v = module_value(m, "hidden_size"); v && v->isInt()) {
    r.hidden_size = v->toInt();
    known_hidden = true;
  }
  if (auto v = module_value(m, "proj_size"); v && v->isInt()) {
    r.proj_size = v->toInt();
    known_projection = true;
  }

  // Traced modules: the weights' shapes and the recurrent op's arguments.
  if (!module_tensor(m, "weight_ih_l0")) return;
  if (auto projection = module_tensor(m, "weight_hr_l0"); projection && projection->dim() == 2) {
    if (!known_projection) r.proj_size = projection->size(0);
    if (!known_hidden) r.hidden_size = projection->size(1);
  } else if (auto hidden = module_tensor(m, "weight_hh_l0"); hidden && hidden->dim() == 2) {
    if (!known_projection) r.proj_size = 0;
    if (!known_hidden) r.hidden_size = hidden->size(1);
  }
  const Node* op = graph ? find_op(*graph, kRecurrentOps) : nullptr;
  if (!op) return;
  if (auto v = constant_argument(op, "num_layers"); v && v->isInt() && !known_layers)
    r.num_layers = v->toInt();
  if (auto v = constant_argument(op, "dropout"); v && v->isDouble() && !known_dropout)
    r.dropout = v->toDouble();
  if (auto v = constant_argument(op, "bidirectional"); v && v->isBool() && !known_direction)
    r.bidirectional = v->toBool();
}

// The facts the Python producer reads (python/openamct/_capture.py), so that
// both give the same table: every fact of a module of a quantizable type, and
// only the weight identity of the others (the shared-weight rule counts some
// of them).
StaticFacts static_facts(const std::string& name, const Module& m) {
  StaticFacts facts;
  ModuleRecord& r = facts.record;
  r.name = name;
  r.type_name = class_name(m);

  const LayerCapability* capability = find_capability(r.type_name);
  std::optional<at::Tensor> weight =
      module_tensor(m, capability && capability->is_rnn ? "weight_ih_l0" : "weight");
  if (weight) facts.weight = weight->unsafeGetTensorImpl();
  if (!capability) return facts;

  if (weight) r.weight_shape = weight->sizes().vec();
  r.has_bias = module_tensor(m, "bias").has_value();  // an RNN's `bias` is a bool
  std::shared_ptr<torch::jit::Graph> graph = forward_graph(m);
  read_convolution_facts(m, capability, graph.get(), r);
  if (capability->is_rnn) read_recurrent_facts(m, graph.get(), r);
  return facts;
}

}  // namespace

// ---- TorchScriptSource ------------------------------------------------------------

struct TorchScriptSource::Impl {
  Module model;
  std::vector<c10::IValue> inputs;
  std::optional<ModuleHierarchy> hierarchy;

  const ModuleHierarchy& modules() {
    if (!hierarchy) hierarchy.emplace(model);
    return *hierarchy;
  }
};

TorchScriptSource::TorchScriptSource(torch::jit::Module& model,
                                     const std::vector<c10::IValue>& inputs)
    : impl_(new Impl{model, inputs, std::nullopt}) {}

TorchScriptSource::~TorchScriptSource() = default;

std::vector<ModuleEntry> TorchScriptSource::modules() {
  std::vector<ModuleEntry> out;
  for (const auto& entry : impl_->modules().entries())
    out.push_back({entry.name, class_name(entry.module)});
  return out;
}

LayerTable TorchScriptSource::capture() {
  const ModuleHierarchy& hierarchy = impl_->modules();
  const auto& entries = hierarchy.entries();

  LayerTable table;
  std::vector<const c10::TensorImpl*> weights;
  for (const auto& entry : entries) {
    StaticFacts facts = static_facts(entry.name, entry.module);
    table.modules.push_back(std::move(facts.record));
    weights.push_back(facts.weight);
  }

  // Same id <=> same weight tensor object; ids in first-seen order.
  std::unordered_map<const c10::TensorImpl*, int64_t> weight_ids;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!weights[i]) continue;
    auto inserted = weight_ids.emplace(weights[i], static_cast<int64_t>(weight_ids.size()));
    table.modules[i].weight_id = inserted.first->second;
  }

  // Run facts for the modules of quantizable types, as the Python producer.
  RecordIndex observed;
  for (const auto& [object, index] : hierarchy.record_of())
    if (find_capability(table.modules[index].type_name)) observed.emplace(object, index);
  std::vector<ObservedCalls> calls =
      observe_forward(impl_->model, impl_->inputs, observed, entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    table.modules[i].call_count = calls[i].count;
    table.modules[i].input_rank = calls[i].first_input_rank;
  }
  return table;
}

}  // namespace openamct
