// What every binding translation unit needs, and the registration functions module.cpp calls.
// One translation unit per concern keeps each compile (xtensor instantiations for float and
// double, CPU and CUDA) within the machine's memory budget and lets them build in parallel.
//
// Where new bindings go: one bind_<area>.cpp with a bind_<area>(module&) declared here and called
// from module.cpp, plus its public wrapper in python/lowrank/. The [compress] algorithms
// (whitened_svd, rank allocation) are bind_compress.cpp + python/lowrank/compress.py; the model
// pipeline (lowrank.compress / lowrank.calibrate) runs the bundled CLI (python/lowrank/_cli.py).
#pragma once

#include "arrays.hpp"
#include "dispatch.hpp"
#include "errors.hpp"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

namespace lowrank::python {

void bind_svd(nb::module_& m);
void bind_tucker(nb::module_& m);
void bind_tensor_ops(nb::module_& m);
void bind_compress(nb::module_& m);

}  // namespace lowrank::python
