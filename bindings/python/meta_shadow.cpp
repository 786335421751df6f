// The meta shadow of an eager model: a copy of its module tree in which every
// parameter and buffer is a twin on the meta device, so that one forward pass
// finds the layers without copying a weight or doing arithmetic (see
// python/openamct/_capture.py, which runs it).
//
// Why in C++: the copy visits every attribute of every module to decide what
// the shadow may share. In Python that cost about 4 µs per module and 1.2 µs
// per tensor, 1.2 ms for ResNet-50: two thirds of the forward pass it
// prepares. Here the same rules run at C speed; only what is Python by nature
// (copy.deepcopy for the rare value it must copy, a class's own __setstate__,
// nn.Parameter) is called back.
//
// The rules are copy.deepcopy's, told through its memo to use a meta twin for
// every parameter and buffer:
//  * a module whose class copies itself like nn.Module (none of the copy
//    protocol overridden, no __slots__) gets a copy of its __dict__ in which
//    the parameters and buffers are their twins, the submodules are shadows,
//    every empty dict, OrderedDict or set (the hook dicts) is a new one, and
//    any other value deepcopy would not share (a list, a non-empty dict, a
//    tensor attribute) is deep-copied with the same memo; then __setstate__,
//    as deepcopy does (nn.Module's own is applied without the call: see
//    set_state);
//  * any other module goes through copy.deepcopy itself, with the same memo;
//  * the shadow is born in eval mode where the class keeps nn.Module.train;
//    otherwise the caller must call eval() on it (needs_eval).
#include "meta_shadow.h"

#include <ATen/EmptyTensor.h>
#include <torch/extension.h>

#include <array>
#include <unordered_map>

#include "python_objects.h"

namespace openamct_py {
namespace {

// Python objects looked up once. Never freed: they live as long as the
// interpreter, and freeing them at exit could run after it is gone.
struct PythonNames {
  py::object ordered_dict, parameter, module_type, module_train, module_setstate, deepcopy,
      slotnames, empty_like, meta_device;
  py::list module_init_keys;
  PyTypeObject* tensor_type;
  std::array<PyObject*, 12> atomic_types;  // returned by deepcopy as they are
  std::array<const char*, 6> copy_protocol{"__deepcopy__", "__reduce_ex__", "__reduce__",
                                           "__getstate__", "__getnewargs_ex__",
                                           "__getnewargs__"};
  py::str k_dict{"__dict__"}, k_modules{"_modules"}, k_parameters{"_parameters"},
      k_buffers{"_buffers"}, k_training{"training"}, k_train{"train"},
      k_setstate{"__setstate__"}, k_device{"device"};

  PythonNames() {
    auto torch = py::module_::import("torch");
    auto builtins = py::module_::import("builtins");
    ordered_dict = py::module_::import("collections").attr("OrderedDict");
    parameter = torch.attr("nn").attr("Parameter");
    module_type = torch.attr("nn").attr("Module");
    module_train = module_type.attr("train");
    module_setstate = module_type.attr("__setstate__");
    // What nn.Module.__init__ sets: the only attributes nn.Module.__setstate__
    // may add to a state (for checkpoints from older versions of torch).
    module_init_keys = py::list(module_type().attr("__dict__"));
    deepcopy = py::module_::import("copy").attr("deepcopy");
    slotnames = py::module_::import("copyreg").attr("_slotnames");
    empty_like = torch.attr("empty_like");
    meta_device = torch.attr("device")("meta");
    tensor_type = reinterpret_cast<PyTypeObject*>(torch.attr("Tensor").ptr());
    const char* builtin_atomic[] = {"bool", "int", "float", "complex", "str", "bytes", "type"};
    size_t i = 0;
    atomic_types[i++] = reinterpret_cast<PyObject*>(Py_TYPE(Py_None));
    for (const char* name : builtin_atomic) atomic_types[i++] = builtins.attr(name).ptr();
    for (const char* name : {"dtype", "device", "layout", "memory_format"})
      atomic_types[i++] = torch.attr(name).ptr();
  }

  static const PythonNames& get() {
    static const PythonNames* names = new PythonNames();
    return *names;
  }

  bool is_atomic(PyObject* value) const {
    PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(value));
    for (PyObject* t : atomic_types)
      if (t == type) return true;
    return false;
  }
};

// at::empty_like(tensor, device=meta). A dense tensor's twin takes its sizes
// and strides, which is what empty_like's preserve_format gives it, without
// the three dispatcher calls (a quarter of the time a twin takes).
at::Tensor empty_meta_like(const at::Tensor& tensor) {
  if (tensor.layout() == at::kStrided && tensor.is_non_overlapping_and_dense())
    return at::detail::empty_strided_meta(tensor.sizes(), tensor.strides(), tensor.scalar_type());
  return at::empty_like(tensor, tensor.options().device(at::kMeta));
}

py::object id_of(py::handle obj) { return steal(PyLong_FromVoidPtr(obj.ptr())); }

class ShadowBuilder {
 public:
  ShadowBuilder(py::dict memo) : names_(PythonNames::get()), memo_(std::move(memo)) {}

  bool needs_eval() const { return needs_eval_; }

  // memo[id(t)] = the meta twin of every parameter and buffer of `modules`.
  void add_tensor_twins(const py::list& modules) {
    for (py::handle item : modules) {
      py::handle mod = PyTuple_GET_ITEM(item.ptr(), 1);
      add_twins(mod.attr(names_.k_parameters), /*parameters=*/true);
      add_twins(mod.attr(names_.k_buffers), /*parameters=*/false);
    }
  }

  py::object shadow(py::handle mod) {
    py::object key = id_of(mod);
    if (PyObject* twin = PyDict_GetItemWithError(memo_.ptr(), key.ptr()))
      return py::reinterpret_borrow<py::object>(twin);
    if (PyErr_Occurred()) throw py::error_already_set();
    PyTypeObject* cls = Py_TYPE(mod.ptr());
    const ClassTraits traits = traits_of(cls);
    if (!traits.copies_like_module || !cls->tp_new) {
      needs_eval_ = true;
      return names_.deepcopy(mod, memo_);
    }
    py::object twin = steal(cls->tp_new(cls, no_args_.ptr(), nullptr));  // cls.__new__(cls)
    if (PyDict_SetItem(memo_.ptr(), key.ptr(), twin.ptr()) != 0) throw py::error_already_set();
    py::object state = steal(PyDict_Copy(mod.attr(names_.k_dict).ptr()));
    if (!traits.keeps_module_train)
      needs_eval_ = true;
    else if (PyDict_SetItem(state.ptr(), names_.k_training.ptr(), Py_False) != 0)
      throw py::error_already_set();
    // Only values change, never keys: safe while iterating (as in Python).
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(state.ptr(), &pos, &k, &v)) {
      if (names_.is_atomic(v)) continue;
      py::object copied = copy_value(py::handle(k), py::handle(v));
      if (copied && PyDict_SetItem(state.ptr(), k, copied.ptr()) != 0)
        throw py::error_already_set();
    }
    set_state(twin, state, traits);
    return twin;
  }

 private:
  struct ClassTraits {
    bool copies_like_module;
    bool keeps_module_train;
    bool keeps_module_setstate;
  };

  // twin.__setstate__(state), as deepcopy calls it. nn.Module's own
  // __setstate__ updates the (empty) __dict__ and adds any attribute of
  // nn.Module.__init__ the state lacks; a state copied from a live module
  // lacks none, so the state itself becomes the __dict__, without the Python
  // call (a fifth of the time a module's copy takes).
  void set_state(py::handle twin, py::handle state, const ClassTraits& traits) {
    if (traits.keeps_module_setstate && has_module_init_keys(state)) {
      if (PyObject_GenericSetDict(twin.ptr(), state.ptr(), nullptr) != 0)
        throw py::error_already_set();
      return;
    }
    steal(PyObject_CallMethodOneArg(twin.ptr(), names_.k_setstate.ptr(), state.ptr()));
  }

  bool has_module_init_keys(py::handle state) const {
    for (py::handle key : names_.module_init_keys) {
      const int has = PyDict_Contains(state.ptr(), key.ptr());
      if (has < 0) throw py::error_already_set();
      if (!has) return false;
    }
    return true;
  }

  void add_twins(py::handle tensors, bool parameters) {
    PyObject *k, *t;
    Py_ssize_t pos = 0;
    while (PyDict_Next(tensors.ptr(), &pos, &k, &t)) {
      if (t == Py_None) continue;
      py::object key = id_of(t);
      if (PyDict_Contains(memo_.ptr(), key.ptr())) continue;
      memo_[key] = twin_of(py::handle(t), parameters);
    }
  }

  // torch.empty_like(t, device='meta'), wrapped in nn.Parameter for a
  // parameter; a tensor already on meta is its own twin.
  py::object twin_of(py::handle t, bool parameter) {
    if (!THPVariable_Check(t.ptr()))
      throw py::type_error(std::string(parameter ? "a parameter" : "a buffer") +
                           " is not a tensor but " + Py_TYPE(t.ptr())->tp_name);
    const at::Tensor& tensor = THPVariable_Unpack(t.ptr());
    if (tensor.is_meta()) return py::reinterpret_borrow<py::object>(t);
    py::object twin;
    if (Py_TYPE(t.ptr()) == names_.tensor_type ||
        Py_TYPE(t.ptr()) == reinterpret_cast<PyTypeObject*>(names_.parameter.ptr())) {
      twin = steal(THPVariable_Wrap(empty_meta_like(tensor)));
    } else {  // a tensor subclass: through Python, which honours __torch_function__
      py::dict kwargs;
      kwargs[names_.k_device] = names_.meta_device;
      twin = names_.empty_like(t, **kwargs);
    }
    if (!parameter) return twin;
    return names_.parameter(twin, py::bool_(tensor.requires_grad()));
  }

  // The new value of state[key], or a null object to keep the value.
  py::object copy_value(py::handle key, py::handle value) {
    PyTypeObject* kind = Py_TYPE(value.ptr());
    const bool ordered = kind == reinterpret_cast<PyTypeObject*>(names_.ordered_dict.ptr());
    if (ordered && equal(key, names_.k_modules)) {
      py::object out = steal(PyObject_CallNoArgs(names_.ordered_dict.ptr()));
      for (auto item : py::reinterpret_borrow<py::dict>(value))
        out[item.first] = item.second.is_none() ? py::object(py::none()) : shadow(item.second);
      return out;
    }
    const bool container = ordered || kind == &PyDict_Type || kind == &PySet_Type;
    if (container && PyObject_Length(value.ptr()) == 0)
      return steal(kind == &PyDict_Type  ? PyDict_New()
                   : kind == &PySet_Type ? PySet_New(nullptr)
                                         : PyObject_CallNoArgs(names_.ordered_dict.ptr()));
    if (ordered && (equal(key, names_.k_parameters) || equal(key, names_.k_buffers))) {
      py::object out = steal(PyObject_CallNoArgs(names_.ordered_dict.ptr()));
      for (auto item : py::reinterpret_borrow<py::dict>(value))
        out[item.first] = item.second.is_none() ? py::object(py::none())
                                                : py::object(memo_[id_of(item.second)]);
      return out;
    }
    if (kind == &PyTuple_Type && all_atomic(value)) return py::object();  // deepcopy shares it
    return names_.deepcopy(value, memo_);
  }

  bool all_atomic(py::handle tuple) const {
    for (Py_ssize_t i = 0, n = PyTuple_GET_SIZE(tuple.ptr()); i < n; ++i)
      if (!names_.is_atomic(PyTuple_GET_ITEM(tuple.ptr(), i))) return false;
    return true;
  }

  static bool equal(py::handle key, const py::str& name) {
    if (key.ptr() == name.ptr()) return true;
    if (!PyUnicode_Check(key.ptr())) return false;
    return PyUnicode_Compare(key.ptr(), name.ptr()) == 0;
  }

  ClassTraits traits_of(PyTypeObject* cls) {
    auto found = traits_.find(cls);
    if (found != traits_.end()) return found->second;
    py::handle type(reinterpret_cast<PyObject*>(cls));
    bool plain = true;
    for (const char* name : names_.copy_protocol) {
      py::str key(name);
      if (!attr_or(type, key, py::none()).is(attr_or(names_.module_type, key, py::none())))
        plain = false;
    }
    plain = plain && py::len(names_.slotnames(type)) == 0;
    const bool own_train = !py::object(type.attr(names_.k_train)).is(names_.module_train);
    const bool own_setstate =
        !py::object(type.attr(names_.k_setstate)).is(names_.module_setstate);
    const ClassTraits traits{plain, !own_train, !own_setstate};
    traits_.emplace(cls, traits);
    return traits;
  }

  const PythonNames& names_;
  const py::tuple no_args_{0};
  py::dict memo_;
  bool needs_eval_ = false;
  std::unordered_map<PyTypeObject*, ClassTraits> traits_;
};

}  // namespace

py::tuple meta_shadow(py::handle model, const py::list& modules, py::dict memo) {
  ShadowBuilder builder(std::move(memo));
  builder.add_tensor_twins(modules);
  py::object shadow = builder.shadow(model);
  return py::make_tuple(shadow, builder.needs_eval());
}

}  // namespace openamct_py
