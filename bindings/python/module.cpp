// openamct._C: the thin bridge between the Python package and the C++ core.
// Python runs the model's one forward pass (python/openamct/_capture.py) and
// reports what each watched module did; reading the modules' static facts
// (eager_source.cpp) and copying the module tree for that pass
// (meta_shadow.cpp) happen on this side, as do the rules, the config and the
// file. Docstrings live in Python.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>
#include <torch/script.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "algorithms_bindings.h"
#include "eager_source.h"
#include "meta_shadow.h"
#include "onnx_passes.h"
#include "flow_bindings.h"
#include "openamct/openamct.h"

namespace py = pybind11;

namespace {

py::dict record_to_dict(const openamct::ModuleRecord& r) {
  py::dict d;
  d["name"] = r.name;
  d["type_name"] = r.type_name;
  d["call_count"] = r.call_count;
  d["input_rank"] = r.input_rank;
  d["padding_mode"] = r.padding_mode;
  d["dilation"] = r.dilation;
  d["has_bias"] = r.has_bias;
  d["weight_shape"] = r.weight_shape;
  d["groups"] = r.groups;
  d["weight_id"] = r.weight_id;
  d["num_layers"] = r.num_layers;
  d["bidirectional"] = r.bidirectional;
  d["dropout"] = r.dropout;
  d["proj_size"] = r.proj_size;
  d["hidden_size"] = r.hidden_size;
  return d;
}

openamct::QuantConfigOptions make_options(std::vector<std::string> skip_layers, int64_t batch_num,
                                          std::string batch_num_digits, bool activation_offset,
                                          std::optional<std::string> config_definition) {
  openamct::QuantConfigOptions o;
  o.skip_layers = std::move(skip_layers);
  o.batch_num = batch_num;
  o.batch_num_digits = std::move(batch_num_digits);
  o.activation_offset = activation_offset;
  o.config_definition = std::move(config_definition);
  return o;
}

std::vector<c10::IValue> to_ivalues(const std::vector<at::Tensor>& inputs) {
  return std::vector<c10::IValue>(inputs.begin(), inputs.end());
}

py::list reports_to_list(const std::vector<openamct::LayerReport>& reports) {
  py::list out;
  for (const auto& r : reports) {
    py::dict d;
    d["name"] = r.name;
    d["type"] = r.type_name;
    d["quantize"] = r.quantize;
    d["verdict"] = r.verdict;
    d["reason"] = r.reason;
    out.append(d);
  }
  return out;
}

py::dict summary_to_dict(const openamct::ConfigCheckSummary& s) {
  py::list layers;
  for (const auto& l : s.layers) {
    py::dict d;
    d["name"] = l.name;
    d["type"] = l.type_name;
    d["act_algo"] = l.act_algo;
    d["act_num_bits"] = l.act_num_bits;
    d["asymmetric"] = l.asymmetric;
    d["wts_num_bits"] = l.wts_num_bits;
    d["wts_algo"] = l.wts_algo;
    d["dmq_balancer_param"] = l.dmq_balancer_param;
    layers.append(d);
  }
  py::dict out;
  out["batch_num"] = s.batch_num;
  out["layers"] = layers;
  return out;
}

// PyErr_SetString with a message that may hold bytes that are not UTF-8
// (paths are bytes): PyErr_SetString would fail to decode it and raise the
// exception with no message at all.
void set_python_error(PyObject* type, const char* message) {
  PyObject* text = PyUnicode_DecodeUTF8(message, static_cast<Py_ssize_t>(std::strlen(message)),
                                        "backslashreplace");
  if (!text) return;  // MemoryError is set
  PyErr_SetObject(type, text);
  Py_DECREF(text);
}

// An OSError message of the core reads "[Errno N] <text>". Raised as
// OSError(N, <text>), Python picks the subclass the reference's own open()
// would raise (PermissionError, FileNotFoundError, IsADirectoryError, ...),
// sets `errno`, and str() gives the message back unchanged.
void set_os_error(PyObject* fallback_type, const char* message) {
  int err = 0;
  int consumed = 0;
  if (std::sscanf(message, "[Errno %d] %n", &err, &consumed) != 1 || consumed == 0) {
    set_python_error(fallback_type, message);
    return;
  }
  const char* rest = message + consumed;
  PyObject* text =
      PyUnicode_DecodeUTF8(rest, static_cast<Py_ssize_t>(std::strlen(rest)), "backslashreplace");
  if (!text) return;
  PyObject* args = Py_BuildValue("(iN)", err, text);
  if (!args) return;
  PyObject* error = PyObject_Call(PyExc_OSError, args, nullptr);
  Py_DECREF(args);
  if (!error) return;
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error)), error);
  Py_DECREF(error);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  static py::exception<openamct::Error> config_parse_error(m, "ConfigParseError",
                                                           PyExc_ValueError);
  config_parse_error.attr("__module__") = "openamct";
  // The Python type of each error kind, looked up by the name the one table
  // (openamct::kErrorKindNames) gives: a builtin, or ConfigParseError.
  // Never freed: a static py::object would be released after the interpreter.
  static auto& python_exception_types = *new std::map<openamct::ErrorKind, py::object>();
  const py::module_ builtins = py::module_::import("builtins");
  for (const auto& row : openamct::kErrorKindNames) {
    const std::string name = row.python_name;
    python_exception_types[row.kind] = name == "openamct.ConfigParseError"
                                           ? py::object(config_parse_error)
                                           : builtins.attr(row.python_name);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const openamct::Error& e) {
      PyObject* type = python_exception_types.at(e.kind()).ptr();
      if (PyObject_IsSubclass(type, PyExc_OSError) == 1)
        set_os_error(type, e.what());
      else
        set_python_error(type, e.what());
    } catch (const std::logic_error& e) {
      set_python_error(PyExc_RuntimeError, e.what());
    }
  });

  openamct_py::register_algorithms(m);
  m.def("quantizable_types", &openamct::quantizable_types);

  // The defaults of the Python signatures and docstrings, from the one C++
  // source (include/openamct/defaults.h).
  py::dict defaults;
  defaults["batch_num"] = openamct::defaults::kBatchNum;
  defaults["activation_offset"] = openamct::defaults::kActivationOffset;
  m.attr("DEFAULTS") = defaults;
  // AdaRound's, which the config reader fills in (calibration spec §3.3).
  py::dict ada;
  ada["num_iteration"] = openamct::defaults::kAdaNumIteration;
  ada["reg_param"] = openamct::defaults::kAdaRegParam;
  ada["warm_start"] = openamct::defaults::kAdaWarmStart;
  ada["beta_range"] = py::make_tuple(openamct::defaults::kAdaBetaRangeStart,
                                     openamct::defaults::kAdaBetaRangeEnd);
  m.attr("ADA_DEFAULTS") = ada;
  m.def("meta_shadow", &openamct_py::meta_shadow);

  m.def("create_quant_config",
        [](const std::string& config_file, py::list modules, py::function run_forward,
           std::vector<std::string> skip_layers, int64_t batch_num, std::string batch_num_digits,
           bool activation_offset, std::optional<std::string> config_definition) {
          openamct_py::EagerSource source(std::move(modules), std::move(run_forward));
          openamct::create_quant_config(
              config_file, source,
              make_options(std::move(skip_layers), batch_num, std::move(batch_num_digits),
                           activation_offset, std::move(config_definition)));
        });

  m.def("inspect_layers", [](py::list modules, py::function run_forward) {
    openamct_py::EagerSource source(std::move(modules), std::move(run_forward));
    return reports_to_list(openamct::inspect_layers(source));
  });

  m.def("capture_eager", [](py::list modules, py::function run_forward) {
    openamct_py::EagerSource source(std::move(modules), std::move(run_forward));
    py::list rows;
    for (const auto& r : source.capture().modules) rows.append(record_to_dict(r));
    return rows;
  });

  m.def("create_quant_config_torchscript",
        [](const std::string& config_file, torch::jit::Module module,
           const std::vector<at::Tensor>& inputs, std::vector<std::string> skip_layers,
           int64_t batch_num, std::string batch_num_digits, bool activation_offset,
           std::optional<std::string> config_definition) {
          openamct::create_quant_config(
              config_file, module, to_ivalues(inputs),
              make_options(std::move(skip_layers), batch_num, std::move(batch_num_digits),
                           activation_offset, std::move(config_definition)));
        });

  m.def("inspect_layers_torchscript",
        [](torch::jit::Module module, const std::vector<at::Tensor>& inputs) {
          return reports_to_list(openamct::inspect_layers(module, to_ivalues(inputs)));
        });

  m.def("capture_torchscript",
        [](torch::jit::Module module, const std::vector<at::Tensor>& inputs) {
          py::list rows;
          for (const auto& r : openamct::capture_layer_table(module, to_ivalues(inputs)).modules)
            rows.append(record_to_dict(r));
          return rows;
        });

  m.def("log_level_from_environment",
        [] { return static_cast<int>(openamct::log_level_from_environment()); });

  openamct_py::register_onnx_passes(m);
  openamct_py::register_flow(m);

  m.def("check_config", [](const std::string& config_file, py::list modules,
                           py::function run_forward) {
    openamct_py::EagerSource source(std::move(modules), std::move(run_forward));
    return summary_to_dict(openamct::check_config(config_file, source));
  });

  m.def("check_config_torchscript",
        [](const std::string& config_file, torch::jit::Module module,
           const std::vector<at::Tensor>& inputs) {
          return summary_to_dict(openamct::check_config(config_file, module, to_ivalues(inputs)));
        });

  // Route the core's log lines to Python's `logging` (logger "openamct").
  m.def("set_log_sink", [](py::object logger) {
    if (logger.is_none()) {
      openamct::set_log_sink(nullptr);
      return;
    }
    // Kept alive for the life of the process: the sink may fire during exit.
    auto* keep = new py::object(std::move(logger));
    openamct::set_log_sink([keep](openamct::LogLevel level, const std::string& msg) {
      py::gil_scoped_acquire gil;
      keep->attr("log")(static_cast<int>(level), msg);
    });
  });
}
