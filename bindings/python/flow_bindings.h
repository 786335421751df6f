// Registers openamct._C's calibration-flow functions (flow_bindings.cpp).
#pragma once

#include <pybind11/pybind11.h>

namespace openamct_py {
void register_flow(pybind11::module_& m);
}  // namespace openamct_py
