// The extension module lowrank._lowrank. The public API is the `lowrank` package
// (python/lowrank/), which validates arguments, picks the result framework and wraps these
// functions' dicts in result classes.
#include "bindings.hpp"

#include <nanobind/stl/string.h>

#include <string>

#ifndef LOWRANK_VERSION
#define LOWRANK_VERSION "unknown"
#endif

namespace {

namespace nb = nanobind;
using namespace lowrank::python;

/// Whether this build can run CUDA arrays, and why not.
nb::dict cuda_info() {
    nb::dict d;
    d["built"] = built_with_cuda;
#ifdef LOWRANK_PY_CUDA
    std::string why;
    const int n = lowrank::cuda::device_count(&why);
    d["devices"] = n;
    d["reason"] = n > 0 ? std::string() : why;
#else
    d["devices"] = 0;
    d["reason"] = std::string("this lowrank was built without CUDA support");
#endif
    return d;
}

}  // namespace

NB_MODULE(_lowrank, m) {
    m.doc() = "lowrank's compiled core (nanobind). Use the `lowrank` package, not this module.";
    m.attr("__version__") = LOWRANK_VERSION;
    register_errors();
    bind_svd(m);
    bind_tucker(m);
    bind_tensor_ops(m);
    bind_compress(m);
    m.def("cuda_info", &cuda_info,
          "{'built': bool, 'devices': int, 'reason': str}: whether CUDA arrays can run here, and why not.");
}
