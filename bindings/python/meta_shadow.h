// The meta shadow of an eager model, built for python/openamct/_capture.py.
#pragma once

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace openamct_py {

// (shadow, needs_eval): copy.deepcopy(model, memo) where memo first maps every
// parameter and buffer of `modules` (model.named_modules() as a list of
// (name, module) pairs) to its twin on the meta device. On return memo holds,
// as deepcopy's does, the twin of every module, parameter and buffer by id.
// needs_eval: some class has its own train() or copy protocol, so the shadow
// is not known to be in eval mode and the caller must call eval() on it.
py::tuple meta_shadow(py::handle model, const py::list& modules, py::dict memo);

}  // namespace openamct_py
