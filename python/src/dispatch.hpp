// Runs one generic binding body on the backend of the input's device.
//
//   on_device(in, f): f(ctx) with ctx a cpu_backend::context (CPU input) or, in a build with the
//   CUDA backend (LOWRANK_PY_CUDA), a cuda_backend::context on the input's device. Errors, raised
//   before any data are touched:
//     - a CUDA input in a build without CUDA: device_error naming the rebuild;
//     - no usable CUDA device: device_error naming the CUDA call and its status.
//   with_dtype(in, f): f(T{}) with T = float or double.
//
// Every call makes its own context (no global state, safe from several Python threads; a CUDA
// context costs a stream and cuBLAS/cuSOLVER handles per call). The body releases the GIL around
// the library call itself (compute()), and the CUDA stream is synchronised before results are
// handed to Python, so any consumer stream may read them.
#pragma once

#include "arrays.hpp"
#include "borrowing_backend.hpp"
#include "lowrank/backend/xtensor_backend.hpp"

#ifdef LOWRANK_PY_CUDA
#include "lowrank/cuda/cuda_backend.hpp"
#endif

#include <optional>
#include <string>
#include <utility>

namespace lowrank::python {

using cpu_backend = borrowing_backend<xtensor_backend>;
static_assert(backend<cpu_backend>);
#ifdef LOWRANK_PY_CUDA
using gpu_backend = borrowing_backend<cuda_backend>;
static_assert(backend<gpu_backend>);
#endif

inline constexpr bool built_with_cuda =
#ifdef LOWRANK_PY_CUDA
    true;
#else
    false;
#endif

/// Blocks until the context's queued work has finished (a no-op on the CPU).
inline void synchronize(cpu_backend::context&) {}
#ifdef LOWRANK_PY_CUDA
inline void synchronize(gpu_backend::context& ctx) { ctx.synchronize(); }
#endif

/// Runs `fn()` without the GIL and synchronises the context before the GIL is taken back.
template <class Ctx, class F>
auto compute(Ctx& ctx, F&& fn) {
    nanobind::gil_scoped_release nogil;
    auto r = fn();
    synchronize(ctx);
    return r;
}

template <class F>
decltype(auto) on_device(const input& in, F&& f) {
    if (in.device == device_kind::cpu) {
        cpu_backend::context ctx;
        return f(ctx);
    }
#ifdef LOWRANK_PY_CUDA
    std::string why;
    if (cuda::device_count(&why) == 0)
        throw device_error("argument '" + in.name + "' is a CUDA array but no CUDA device is usable (" + why + ")");
    std::optional<gpu_backend::context> ctx;
    {
        nanobind::gil_scoped_release nogil;
        cuda::context_options opt;
        opt.device = in.device_id;
        ctx.emplace(opt);
    }
    return f(*ctx);
#else
    throw device_error("argument '" + in.name + "' is a CUDA array (" + in.device_name() +
                       ") but this lowrank was built without CUDA support (install the CUDA toolkit >= 12 and "
                       "rebuild: pip install . with the toolkit on PATH)");
#endif
}

template <class F>
decltype(auto) with_dtype(const input& in, F&& f) {
    if (in.dtype == dtype_kind::f32) return f(float{});
    return f(double{});
}

/// The result target for an input: its device, and the framework the caller asked for.
inline target target_of(const input& in, int fw) {
    if (fw < 0 || fw > static_cast<int>(framework::dlpack))
        throw invalid_argument("framework code " + std::to_string(fw) + " is not one of 0 (numpy), 1 (torch), "
                               "2 (cupy), 3 (dlpack)");
    return target{static_cast<framework>(fw), in.device, in.device_id};
}

/// A vector of host values as an array on the result's device, in the caller's framework.
template <class Ctx, class T>
nanobind::object device_vector(Ctx& ctx, std::vector<T>&& v, const target& t) {
    using B = backend_of<Ctx>;
    if (t.device == device_kind::cpu && t.fw == framework::numpy) return host_vector(std::move(v));
    const shape_t s{v.size()};
    auto dev = B::template upload<T>(ctx, v.data(), s);
    synchronize(ctx);
    return to_python(std::move(dev.owned()), s, false, t);
}

}  // namespace lowrank::python
