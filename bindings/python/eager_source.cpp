#include "eager_source.h"

#include <torch/extension.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "openamct/errors.h"
#include "python_objects.h"

namespace openamct_py {
namespace {

// Python objects looked up once. Never freed: they live as long as the
// interpreter, and freeing them at exit could run after it is gone.
struct Names {
  py::str type_name{"__name__"}, padding_mode{"padding_mode"}, dilation{"dilation"},
      bias{"bias"}, groups{"groups"}, weight{"weight"}, weight_ih_l0{"weight_ih_l0"},
      num_layers{"num_layers"}, bidirectional{"bidirectional"}, dropout{"dropout"},
      proj_size{"proj_size"}, hidden_size{"hidden_size"};
  py::object rnn_base = py::module_::import("torch").attr("nn").attr("RNNBase");
  std::unordered_set<std::string> quantizable;

  Names() {
    for (auto& t : openamct::quantizable_types()) quantizable.insert(std::move(t));
  }

  static const Names& get() {
    static const Names* names = new Names();
    return *names;
  }
};

py::object attr_or_none(py::handle obj, const py::str& name) {
  return attr_or(obj, name, py::none());
}

// int(value), as a C++ integer.
int64_t as_int(py::handle value) {
  return py::int_(py::reinterpret_borrow<py::object>(value)).cast<int64_t>();
}

// Numbers the distinct weight objects, so that two records with the same
// weight_id share one Parameter. The objects are kept alive for the whole
// capture: a weight that a property computes anew on each access (a
// parametrization) is a new object every time, and must not get the id of an
// earlier one that Python freed and whose address it reuses.
class WeightIds {
 public:
  int64_t of(py::object weight) {
    auto [it, added] = ids_.emplace(weight.ptr(), static_cast<int64_t>(ids_.size()));
    if (added) kept_.push_back(std::move(weight));
    return it->second;
  }

 private:
  std::unordered_map<PyObject*, int64_t> ids_;
  std::vector<py::object> kept_;
};

void read_weight(py::object weight, openamct::ModuleRecord& rec, WeightIds& ids,
                 bool with_shape) {
  if (!THPVariable_Check(weight.ptr())) return;
  if (with_shape) {
    const auto sizes = THPVariable_Unpack(weight.ptr()).sizes();
    rec.weight_shape.assign(sizes.begin(), sizes.end());
  }
  rec.weight_id = ids.of(std::move(weight));
}

// The static facts of a module of a quantizable type: what the layer rules
// check, read as the module stores them.
void read_static_facts(py::handle mod, openamct::ModuleRecord& rec, WeightIds& ids) {
  const Names& n = Names::get();
  py::object padding_mode = attr_or_none(mod, n.padding_mode);
  if (PyUnicode_Check(padding_mode.ptr())) rec.padding_mode = padding_mode.cast<std::string>();
  py::object dilation = attr_or_none(mod, n.dilation);
  if (PyLong_Check(dilation.ptr())) {
    rec.dilation = {dilation.cast<int64_t>()};
  } else if (PyTuple_Check(dilation.ptr()) || PyList_Check(dilation.ptr())) {
    for (py::handle d : dilation) rec.dilation.push_back(as_int(d));
  }
  rec.has_bias = THPVariable_Check(attr_or_none(mod, n.bias).ptr());
  py::object groups = attr_or_none(mod, n.groups);
  if (PyLong_Check(groups.ptr())) rec.groups = groups.cast<int64_t>();
  const int is_rnn = PyObject_IsInstance(mod.ptr(), n.rnn_base.ptr());
  if (is_rnn < 0) throw py::error_already_set();
  if (is_rnn) {
    rec.num_layers = as_int(mod.attr(n.num_layers));
    rec.bidirectional = py::bool_(mod.attr(n.bidirectional));
    rec.dropout = py::float_(mod.attr(n.dropout));
    rec.proj_size = as_int(attr_or(mod, n.proj_size, py::int_(0)));
    rec.hidden_size = as_int(mod.attr(n.hidden_size));
    read_weight(attr_or_none(mod, n.weight_ih_l0), rec, ids, /*with_shape=*/true);
  } else {
    read_weight(attr_or_none(mod, n.weight), rec, ids, /*with_shape=*/true);
  }
}

}  // namespace

EagerSource::EagerSource(py::list modules, py::function run_forward)
    : modules_(std::move(modules)), run_forward_(std::move(run_forward)) {}

const std::vector<openamct::ModuleEntry>& EagerSource::entries() {
  if (!entries_read_) {
    const Names& n = Names::get();
    entries_.reserve(py::len(modules_));
    for (py::handle item : modules_) {
      auto pair = item.cast<py::tuple>();
      py::handle type(reinterpret_cast<PyObject*>(Py_TYPE(pair[1].ptr())));
      entries_.push_back({pair[0].cast<std::string>(), type.attr(n.type_name).cast<std::string>()});
    }
    entries_read_ = true;
  }
  return entries_;
}

std::vector<openamct::ModuleEntry> EagerSource::modules() { return entries(); }

openamct::LayerTable EagerSource::capture() {
  const Names& n = Names::get();
  const std::vector<openamct::ModuleEntry>& entries = this->entries();
  openamct::LayerTable table;
  table.modules.reserve(entries.size());
  WeightIds weight_ids;
  py::list hooked;
  std::vector<size_t> hooked_rows;
  for (size_t i = 0; i < entries.size(); ++i) {
    py::handle item = modules_[i];
    py::handle mod = PyTuple_GET_ITEM(item.ptr(), 1);
    openamct::ModuleRecord rec;
    rec.name = entries[i].name;
    rec.type_name = entries[i].type_name;
    if (n.quantizable.count(rec.type_name)) {
      read_static_facts(mod, rec, weight_ids);
      hooked.append(item);
      hooked_rows.push_back(i);
    } else {
      read_weight(attr_or_none(mod, n.weight), rec, weight_ids, /*with_shape=*/false);
    }
    table.modules.push_back(std::move(rec));
  }
  py::list seen = run_forward_(hooked);
  OPENAMCT_INTERNAL_ASSERT(py::len(seen) == hooked_rows.size(),
                           "the forward pass reported on " + std::to_string(py::len(seen)) +
                               " modules, not the " + std::to_string(hooked_rows.size()) +
                               " it watched");
  for (size_t k = 0; k < hooked_rows.size(); ++k) {
    py::sequence facts = seen[k];
    openamct::ModuleRecord& rec = table.modules[hooked_rows[k]];
    rec.call_count = facts[0].cast<int64_t>();
    rec.input_rank = facts[1].cast<int64_t>();
  }
  return table;
}

}  // namespace openamct_py
