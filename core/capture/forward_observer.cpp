// Observing one forward pass of a TorchScript module.
//
// The root's forward graph is copied and every prim::CallMethod on a
// submodule is inlined, recursively, so that the whole pass is one graph.
// Right before each call of a module's forward an `openamct::observe_call`
// node is inserted; when the graph runs, that node tells the capture session
// which record was called and with what first input. The module a call goes
// to is found by following the prim::GetAttr chain of the callee value back
// to the graph's `self`. Observing the run rather than reading the graph
// counts calls in scripted loops and branches correctly.
#include "capture/forward_observer.h"

#include <cctype>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <utility>

#include <c10/core/GradMode.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/custom_operator.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include "openamct/errors.h"
#include "openamct/log.h"

namespace openamct {
namespace {

using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

// ---- capture sessions and the observe_call operator ------------------------

// The operator is global, the sessions are not: each observe_forward call
// opens a session, and the nodes it inserts carry the session's id.
class SessionRegistry {
 public:
  static SessionRegistry& instance() {
    static SessionRegistry registry;
    return registry;
  }

  int64_t open(std::vector<ObservedCalls>* calls) {
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t id = next_id_++;
    sessions_[id] = calls;
    return id;
  }

  void close(int64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_.erase(id);
  }

  void record(int64_t id, int64_t record, const c10::IValue& input) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    std::vector<ObservedCalls>& calls = *it->second;
    OPENAMCT_INTERNAL_ASSERT(record >= 0 && static_cast<size_t>(record) < calls.size(),
                             "observe_call got a record index out of range");
    ObservedCalls& c = calls[static_cast<size_t>(record)];
    if (c.count++ == 0) c.first_input_rank = input.isTensor() ? input.toTensor().dim() : -1;
  }

 private:
  std::mutex mutex_;
  int64_t next_id_ = 1;
  std::unordered_map<int64_t, std::vector<ObservedCalls>*> sessions_;
};

class SessionScope {
 public:
  explicit SessionScope(std::vector<ObservedCalls>* calls)
      : id_(SessionRegistry::instance().open(calls)) {}
  ~SessionScope() { SessionRegistry::instance().close(id_); }
  SessionScope(const SessionScope&) = delete;
  SessionScope& operator=(const SessionScope&) = delete;
  int64_t id() const { return id_; }

 private:
  int64_t id_;
};

const c10::Symbol& observe_symbol() {
  static const c10::Symbol symbol = c10::Symbol::fromQualString("openamct::observe_call");
  return symbol;
}

// CONSERVATIVE alias analysis marks the node as having side effects, so no
// pass removes it although it has no outputs.
torch::jit::RegisterOperators register_observe_call({torch::jit::Operator(
    "openamct::observe_call(int session, int record, Any input) -> ()",
    [](torch::jit::Stack& stack) {
      c10::IValue input = torch::jit::pop(stack);
      const int64_t record = torch::jit::pop(stack).toInt();
      const int64_t session = torch::jit::pop(stack).toInt();
      SessionRegistry::instance().record(session, record, input);
    },
    c10::AliasAnalysisKind::CONSERVATIVE)});

// ---- graph instrumentation ------------------------------------------------------

bool is_module(const c10::IValue& v) {
  return v.isObject() && v.toObjectRef().type()->is_module();
}

class ForwardInstrumenter {
 public:
  ForwardInstrumenter(const Module& model, const RecordIndex& record_of, int64_t session,
                      torch::jit::Graph& graph)
      : model_(model), record_of_(record_of), session_(session), graph_(graph),
        self_(graph.inputs().at(0)) {}

  void run() { instrument(graph_.block()); }

 private:
  void instrument(torch::jit::Block* block) {
    Node* n = block->nodes().front();
    while (n != block->return_node()) {
      if (n->kind() == c10::prim::CallMethod) {
        n = expand_call(n);
        continue;
      }
      for (torch::jit::Block* sub : n->blocks()) instrument(sub);
      n = n->next();
    }
  }

  // Observes `call` if it runs a module's forward, inlines the called method,
  // and returns the next node to visit: the first inlined one.
  Node* expand_call(Node* call) {
    const std::string method = call->s(c10::attr::name);
    std::optional<Module> callee = module_of(call->input(0));
    if (!callee) log_debug("capture: cannot tell which module " + method + "() belongs to");
    if (callee && is_forward_method(method)) {
      auto it = record_of_.find(callee->_ivalue().get());
      if (it != record_of_.end()) insert_observe(call, it->second);
    }
    auto cls = call->input(0)->type()->cast<c10::ClassType>();
    torch::jit::Function* function = cls ? cls->findMethod(method) : nullptr;
    if (!function || !function->isGraphFunction()) {
      // An interface-typed call: it runs, but the calls inside it are not seen.
      log_debug("capture: the calls inside " + method + "() are not observed");
      return call->next();
    }
    // The callee's own graph, not its optimized_graph(): that one has the
    // nested calls inlined already, and they would go unobserved.
    Node* before = call->prev();
    torch::jit::GraphFunction& graph_function = torch::jit::toGraphFunction(*function);
    torch::jit::inlineCallTo(call, &graph_function, graph_function.graph().get());
    return before->next();
  }

  void insert_observe(Node* call, size_t record) {
    torch::jit::WithInsertPoint guard(call);
    Value* input = observed_input(call);
    Value* session = graph_.insertConstant(session_);
    Value* index = graph_.insertConstant(static_cast<int64_t>(record));
    if (!input) input = graph_.insertConstant(c10::IValue());
    graph_.insertNode(graph_.create(observe_symbol(), {session, index, input}, 0));
  }

  // The first positional input of the call. A traced module takes the
  // parameters it shares with a module named before it as extra leading
  // arguments (`fc2.forward(fc.weight, x)`); those are skipped. (A scripted
  // call whose first argument is a parameter and which has more arguments,
  // `self.fc(self.query, x)`, is read the same way; no nn layer takes that.)
  Value* observed_input(Node* call) const {
    const auto inputs = call->inputs();
    for (size_t i = 1; i < inputs.size(); ++i) {
      Value* in = inputs[i];
      const bool lifted_parameter = in->type()->cast<c10::TensorType>() &&
                                    in->node()->kind() == c10::prim::GetAttr &&
                                    attribute_path(in).has_value();
      if (!lifted_parameter) return in;
    }
    return inputs.size() > 1 ? inputs[1] : nullptr;
  }

  // Attribute names from the graph's `self` to `v`, innermost first; nullopt
  // when `v` is not reached from `self` through prim::GetAttr nodes only.
  std::optional<std::vector<std::string>> attribute_path(const Value* v) const {
    std::vector<std::string> path;
    while (v != self_) {
      const Node* n = v->node();
      if (n->kind() != c10::prim::GetAttr) return std::nullopt;
      path.push_back(n->s(c10::attr::name));
      v = n->input(0);
    }
    return path;
  }

  std::optional<Module> module_of(const Value* v) const {
    auto path = attribute_path(v);
    if (!path) return std::nullopt;
    Module m = model_;
    for (auto it = path->rbegin(); it != path->rend(); ++it) {
      auto slot = m.type()->findAttributeSlot(*it);
      if (!slot) return std::nullopt;
      const c10::IValue& value = m._ivalue()->getSlot(*slot);
      if (!is_module(value)) return std::nullopt;
      m = Module(value.toObject());
    }
    return m;
  }

  const Module& model_;
  const RecordIndex& record_of_;
  int64_t session_;
  torch::jit::Graph& graph_;
  Value* self_;
};

// ---- leaving the model as it was ------------------------------------------------

// Sets `training` to false on every module object; restores every flag.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(const Module& model) {
    for (const Module& m : model.modules()) {
      auto slot = m.type()->findAttributeSlot("training");
      if (!slot) continue;
      saved_.push_back({m._ivalue(), *slot, m._ivalue()->getSlot(*slot)});
      m._ivalue()->setSlot(*slot, c10::IValue(false));
    }
  }
  ~EvalModeGuard() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it)
      it->object->setSlot(it->slot, it->value);
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  struct Saved {
    c10::intrusive_ptr<c10::ivalue::Object> object;
    size_t slot;
    c10::IValue value;
  };
  std::vector<Saved> saved_;
};

// A traced module keeps the training flag it was traced with inside its
// graph, so a train-mode BatchNorm still updates its running statistics.
// Buffers (never parameters) are saved and put back afterwards.
class BufferGuard {
 public:
  explicit BufferGuard(const Module& model) {
    std::unordered_set<const c10::TensorImpl*> seen;
    for (const Module& m : model.modules()) {
      const auto& type = m.type();
      for (size_t i = 0; i < type->numAttributes(); ++i) {
        const c10::IValue& v = m._ivalue()->getSlot(i);
        if (!type->is_buffer(i) || !v.isTensor() || !v.toTensor().defined()) continue;
        const at::Tensor& t = v.toTensor();
        const bool first = seen.insert(t.unsafeGetTensorImpl()).second;
        saved_.push_back({m._ivalue(), i, t, first ? t.clone() : at::Tensor()});
      }
    }
  }
  ~BufferGuard() {
    c10::NoGradGuard no_grad;
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      it->object->setSlot(it->slot, it->tensor);
      if (it->values.defined()) it->tensor.copy_(it->values);
    }
  }
  BufferGuard(const BufferGuard&) = delete;
  BufferGuard& operator=(const BufferGuard&) = delete;

 private:
  struct Saved {
    c10::intrusive_ptr<c10::ivalue::Object> object;
    size_t slot;
    at::Tensor tensor;
    at::Tensor values;
  };
  std::vector<Saved> saved_;
};

std::string torch_message(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

// The interpreter's message is a TorchScript traceback that ends with the
// error itself ("RuntimeError: Given groups=1, ..."): that line goes first.
std::string forward_failure(const std::string& torch_message) {
  std::string message = "The model's forward() failed on the given inputs: ";
  std::string text = torch_message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const size_t line_start = text.rfind('\n');
  if (line_start == std::string::npos) return message + text;
  const std::string last_line = text.substr(line_start + 1);
  const size_t colon = last_line.find(": ");
  const std::string head = last_line.substr(0, colon == std::string::npos ? 0 : colon);
  const bool names_an_error = !head.empty() && head.find(' ') == std::string::npos &&
                              (head.size() >= 5 && (head.compare(head.size() - 5, 5, "Error") == 0 ||
                                                    head.find("Exception") != std::string::npos));
  if (!names_an_error) return message + text;
  return message + last_line.substr(colon + 2) + "\n" + text;
}

}  // namespace

bool is_forward_method(const std::string& name) {
  static const std::string kForward = "forward";
  if (name.compare(0, kForward.size(), kForward) != 0) return false;
  std::string rest = name.substr(kForward.size());
  if (rest.empty()) return true;
  if (rest.size() > 2 && rest.compare(0, 2, "__") == 0) rest = rest.substr(2);
  if (rest.empty()) return false;
  for (char c : rest)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::vector<ObservedCalls> observe_forward(const Module& model,
                                           const std::vector<c10::IValue>& inputs,
                                           const RecordIndex& record_of,
                                           std::size_t num_records) {
  auto forward = model.find_method("forward");
  if (!forward) throw_runtime_error("The model has no forward() method.");

  torch::jit::Stack stack;
  stack.reserve(inputs.size() + 1);
  stack.emplace_back(model._ivalue());
  stack.insert(stack.end(), inputs.begin(), inputs.end());
  try {
    forward->function().getSchema().checkAndNormalizeInputs(stack);
  } catch (const std::exception& e) {
    throw_runtime_error("The inputs do not fit the model's forward(): " + torch_message(e));
  }

  std::vector<ObservedCalls> calls(num_records);
  SessionScope session(&calls);
  std::shared_ptr<torch::jit::Graph> graph =
      torch::jit::toGraphFunction(forward->function()).graph()->copy();
  ForwardInstrumenter(model, record_of, session.id(), *graph).run();
  log_debug("capture: the instrumented forward graph:\n" + graph->toString());
  torch::jit::Code code(graph, "openamct_capture");

  // The root's own call.
  auto root = record_of.find(model._ivalue().get());
  if (root != record_of.end()) {
    calls[root->second].count = 1;
    calls[root->second].first_input_rank =
        stack.size() > 1 && stack[1].isTensor() ? stack[1].toTensor().dim() : -1;
  }

  EvalModeGuard eval_mode(model);
  BufferGuard buffers(model);
  c10::NoGradGuard no_grad;
  try {
    torch::jit::InterpreterState(code).run(stack);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw_runtime_error(forward_failure(torch_message(e)));
  }
  return calls;
}

}  // namespace openamct
