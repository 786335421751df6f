// Helpers shared by the ONNX passes (see onnx_graph.h): lookups by name,
// rewiring, front insertion and tensor payloads. Linear scans on purpose: the
// graphs have hundreds of nodes and every pass edits the list as it goes.
#include "onnx/onnx_graph.h"

#include <cstring>

#include "openamct/errors.h"

namespace openamct {
namespace onnx_passes {

const onnx::NodeProto& with_io(const onnx::NodeProto& n, int inputs, int outputs) {
  if (n.input_size() < inputs || n.output_size() < outputs) {
    throw_runtime_error("node '" + n.name() + "' (" + n.op_type() + ") has " +
                        std::to_string(n.input_size()) + " inputs and " +
                        std::to_string(n.output_size()) + " outputs, expected at least " +
                        std::to_string(inputs) + " and " + std::to_string(outputs) +
                        "; the ONNX file is damaged, export it again");
  }
  return n;
}

int find_node(const onnx::GraphProto& g, const std::string& name) {
  for (int i = 0; i < g.node_size(); ++i) {
    if (g.node(i).name() == name) return i;
  }
  return -1;
}

int find_producer(const onnx::GraphProto& g, const std::string& tensor) {
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) {
      if (o == tensor) return i;
    }
  }
  return -1;
}

std::vector<int> find_consumers(const onnx::GraphProto& g, const std::string& tensor) {
  std::vector<int> out;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& in : g.node(i).input()) {
      if (in == tensor) {
        out.push_back(i);
        break;
      }
    }
  }
  return out;
}

bool is_graph_output(const onnx::GraphProto& g, const std::string& tensor) {
  for (const auto& o : g.output()) {
    if (o.name() == tensor) return true;
  }
  return false;
}

onnx::TensorProto* find_initializer(onnx::GraphProto* g, const std::string& name) {
  for (auto& t : *g->mutable_initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

const onnx::TensorProto* find_initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

void remove_initializer(onnx::GraphProto* g, const std::string& name) {
  auto* inits = g->mutable_initializer();
  for (int i = 0; i < inits->size(); ++i) {
    if (inits->Get(i).name() == name) {
      inits->DeleteSubrange(i, 1);
      return;
    }
  }
}

bool is_read(const onnx::GraphProto& g, const std::string& tensor) {
  return !find_consumers(g, tensor).empty();
}

void rename_input(onnx::GraphProto* g, const std::string& from, const std::string& to, int skip) {
  for (int i = 0; i < g->node_size(); ++i) {
    if (i == skip) continue;
    for (auto& in : *g->mutable_node(i)->mutable_input()) {
      if (in == from) in = to;
    }
  }
}

void remove_node(onnx::GraphProto* g, int index) { g->mutable_node()->DeleteSubrange(index, 1); }

onnx::NodeProto* prepend_node(onnx::GraphProto* g, const onnx::NodeProto& node) {
  auto* nodes = g->mutable_node();
  nodes->Add()->CopyFrom(node);
  for (int i = nodes->size() - 1; i > 0; --i) nodes->SwapElements(i, i - 1);
  return nodes->Mutable(0);
}

onnx::NodeProto make_node(const std::string& op, const std::string& name,
                          const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (const auto& i : inputs) n.add_input(i);
  for (const auto& o : outputs) n.add_output(o);
  return n;
}

onnx::NodeProto make_constant(const std::string& name, const onnx::TensorProto& value) {
  onnx::NodeProto n = make_node("Constant", name, {}, {name + ".output0"});
  auto* a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->CopyFrom(value);
  return n;
}

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

onnx::AttributeProto* find_attribute(onnx::NodeProto* n, const std::string& name) {
  for (auto& a : *n->mutable_attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

void remove_attribute(onnx::NodeProto* n, const std::string& name) {
  auto* attrs = n->mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i) {
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      return;
    }
  }
}

namespace {
onnx::AttributeProto* attribute_slot(onnx::NodeProto* n, const std::string& name) {
  onnx::AttributeProto* a = find_attribute(n, name);
  if (!a) {
    a = n->add_attribute();
    a->set_name(name);
  }
  return a;
}
}  // namespace

void set_int_attribute(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = attribute_slot(n, name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void set_float_attribute(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = attribute_slot(n, name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void set_string_attribute(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = attribute_slot(n, name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

int64_t int_attribute(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  const auto* a = find_attribute(n, name);
  return a ? a->i() : fallback;
}

const onnx::AttributeProto& required_attribute(const onnx::NodeProto& n, const std::string& name,
                                               onnx::AttributeProto::AttributeType type) {
  const auto* a = find_attribute(n, name);
  if (!a || a->type() != type) {
    throw_runtime_error("node '" + n.name() + "' (" + n.op_type() + ") has no attribute '" +
                        name + "' of the expected type; the ONNX file is damaged");
  }
  return *a;
}

int64_t element_count(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (auto d : t.dims()) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) {
      throw_runtime_error("tensor '" + t.name() + "' has an invalid shape; the ONNX file is "
                          "damaged");
    }
    n *= d;
  }
  return n;
}

const std::string& checked_raw_data(const onnx::TensorProto& t, size_t element_size) {
  if (!t.has_raw_data()) {
    throw_runtime_error("initializer '" + t.name() +
                        "' has no raw_data; OpenAMCT reads the tensors torch.onnx.export writes");
  }
  const auto bytes = static_cast<uint64_t>(element_count(t)) * element_size;
  if (t.raw_data().size() != bytes) {
    throw_runtime_error("initializer '" + t.name() + "' holds " +
                        std::to_string(t.raw_data().size()) + " bytes, expected " +
                        std::to_string(bytes) + "; the ONNX file is damaged, export it again");
  }
  return t.raw_data();
}

template <typename T>
std::vector<T> raw_values(const onnx::TensorProto& t) {
  const std::string& raw = checked_raw_data(t, sizeof(T));
  std::vector<T> out(raw.size() / sizeof(T));
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}
template std::vector<float> raw_values<float>(const onnx::TensorProto&);
template std::vector<int8_t> raw_values<int8_t>(const onnx::TensorProto&);
template std::vector<int32_t> raw_values<int32_t>(const onnx::TensorProto&);
template std::vector<int64_t> raw_values<int64_t>(const onnx::TensorProto&);
template std::vector<uint64_t> raw_values<uint64_t>(const onnx::TensorProto&);

std::vector<float> float_values(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT) {
    throw_runtime_error("initializer '" + t.name() + "' has data type " +
                        std::to_string(t.data_type()) + ", expected FLOAT (1)");
  }
  if (!t.has_raw_data() && t.float_data_size() == element_count(t)) {
    return std::vector<float>(t.float_data().begin(), t.float_data().end());
  }
  return raw_values<float>(t);
}

namespace {
template <typename T>
onnx::TensorProto make_tensor(const std::string& name, int dtype,
                              const std::vector<int64_t>& dims, const std::vector<T>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(dtype);
  for (auto d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()),
                             values.size() * sizeof(T)));
  return t;
}
}  // namespace

onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& values) {
  return make_tensor(name, onnx::TensorProto::FLOAT, dims, values);
}
onnx::TensorProto int8_tensor(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<int8_t>& values) {
  return make_tensor(name, onnx::TensorProto::INT8, dims, values);
}
onnx::TensorProto int32_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int32_t>& values) {
  return make_tensor(name, onnx::TensorProto::INT32, dims, values);
}
onnx::TensorProto int64_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int64_t>& values) {
  return make_tensor(name, onnx::TensorProto::INT64, dims, values);
}
onnx::TensorProto uint64_tensor(const std::string& name, const std::vector<int64_t>& dims,
                                const std::vector<uint64_t>& values) {
  return make_tensor(name, onnx::TensorProto::UINT64, dims, values);
}

}  // namespace onnx_passes
}  // namespace openamct
