// The Python exception hierarchy of the bindings and the translation of C++ errors into it.
//
//   lowrank.Error(Exception)                       lowrank::error (any not listed below)
//   ├── ShapeError(Error, ValueError)              lowrank::shape_error
//   ├── RankError(Error, ValueError)               lowrank::rank_error
//   ├── ModeError(Error, ValueError, IndexError)   lowrank::mode_error
//   ├── InvalidArgumentError(Error, ValueError)    lowrank::invalid_argument
//   │   └── InfeasibleBudgetError                  lowrank::infeasible_budget (allocation)
//   ├── DTypeError(Error, TypeError)               python::dtype_error (wrong element type)
//   ├── LayoutError(Error, ValueError)             python::layout_error (not C/F contiguous)
//   ├── DeviceError(Error, ValueError)             python::device_error (unsupported/mixed devices,
//   │                                              no CUDA device, a build without CUDA)
//   ├── NonFiniteError(Error, ValueError)          raised by the Python layer for NaN/Inf input
//   ├── BackendError(Error, RuntimeError)          lowrank::backend_error (BLAS/LAPACK/CUDA failure)
//   └── FileError(Error, OSError)                  lowrank::io_error; .path and .offset attributes
//
// Every class is a subclass of the matching built-in exception, so `except ValueError` keeps
// working for code that does not know lowrank. The classes are defined in Python
// (python/lowrank/_errors.py, where type checkers and documentation find them); the translator
// imports them on the first error.
#pragma once

#include <nanobind/nanobind.h>

namespace lowrank::python {

/// Installs the translator (process-wide, like every nanobind translator).
void register_errors();

}  // namespace lowrank::python
