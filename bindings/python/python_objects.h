// Small helpers over CPython's C API for the bindings' C++ (eager_source.cpp,
// meta_shadow.cpp), which handle Python objects in loops where pybind11's
// conveniences would cost more than the work.
#pragma once

#include <pybind11/pybind11.h>

namespace openamct_py {

namespace py = pybind11;

// A new reference from the C API as an object; a null result raises the
// Python error that is set.
inline py::object steal(PyObject* result) {
  if (!result) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(result);
}

// getattr(obj, name, fallback), as Python has it: only an AttributeError
// means "absent"; any other error propagates.
inline py::object attr_or(py::handle obj, py::handle name, py::object fallback) {
  if (PyObject* value = PyObject_GetAttr(obj.ptr(), name.ptr()))
    return py::reinterpret_steal<py::object>(value);
  if (!PyErr_ExceptionMatches(PyExc_AttributeError)) throw py::error_already_set();
  PyErr_Clear();
  return fallback;
}

}  // namespace openamct_py
