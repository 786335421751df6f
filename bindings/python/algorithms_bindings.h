// openamct._C.algorithms: the calibration algorithms for
// python/openamct/algorithms.py (which converts numpy arrays and documents).
#pragma once

#include <pybind11/pybind11.h>

namespace openamct_py {

void register_algorithms(pybind11::module_& m);

}  // namespace openamct_py
