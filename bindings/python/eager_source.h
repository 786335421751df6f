// The ModelSource of an eager (nn.Module) model handed over from Python.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

#include "openamct/openamct.h"

namespace py = pybind11;

namespace openamct_py {

// modules: model.named_modules() as a list of (name, module) pairs.
// run_forward(hooked): runs the model once with the quantizable modules
// `hooked`, a list of (name, module) pairs, watched; returns one
// (call_count, input_rank) pair per hooked module, in the same order
// (python/openamct/_capture.py, run_capture).
//
// The static facts of every module (padding mode, dilation, bias, groups,
// weight shape and identity, RNN settings) are read here from the module
// objects rather than in Python: it is one pass over a few attributes of each
// module, and done in Python, with the dict per record that crossed over to
// C++ afterwards, it cost a tenth of the whole call.
class EagerSource : public openamct::ModelSource {
 public:
  EagerSource(py::list modules, py::function run_forward);

  std::vector<openamct::ModuleEntry> modules() override;
  openamct::LayerTable capture() override;

 private:
  // (name, class name) of every module, read once.
  const std::vector<openamct::ModuleEntry>& entries();

  py::list modules_;
  py::function run_forward_;
  std::vector<openamct::ModuleEntry> entries_;
  bool entries_read_ = false;
};

}  // namespace openamct_py
