// Registers openamct._C's ONNX functions (onnx_passes.cpp) on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace openamct_py {
void register_onnx_passes(pybind11::module_& m);
}  // namespace openamct_py
