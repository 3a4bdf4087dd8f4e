// Arrays crossing the Python boundary: what the bindings accept, and how results go back.
//
// Input (inspect): any object nanobind can import as an ndarray — numpy (buffer protocol or
// DLPack), torch, cupy, jax, any __dlpack__ producer — of dtype float32 or float64, on the CPU or
// a CUDA device, and contiguous in C or Fortran order. It is read in place, never copied:
//   - C order: the library sees the array itself.
//   - Fortran order (and not also C order): the library sees the C-ordered array with the axes
//     reversed (same memory; for a matrix, its transpose). Each binding maps that back.
//   - anything else (a strided view, negative or zero strides): layout_error.
// Other dtypes raise dtype_error; other devices (cuda_host, rocm, ...) device_error; these and
// the library's own errors become the Python lowrank.Error hierarchy (errors.hpp).
//
// Output (export): an owning tensor of the backend is moved to the heap and handed to Python
// with a capsule that frees it — no copy. The array type follows the caller's framework
// (numpy, torch, cupy; a DLPack-capable nanobind array otherwise) and the input's device.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace lowrank::python {

namespace nb = nanobind;

/// Binding-level misuse; subclasses of lowrank::error so one translator maps every error.
struct dtype_error : error {  ///< Python: lowrank.DTypeError (a TypeError)
    using error::error;
};
struct layout_error : error {  ///< Python: lowrank.LayoutError (a ValueError)
    using error::error;
};
struct device_error : error {  ///< Python: lowrank.DeviceError (a ValueError)
    using error::error;
};

enum class dtype_kind { f32, f64 };
enum class device_kind { cpu, cuda };

/// The array type results are returned as; chosen by the Python layer from the input's type.
enum class framework : int { numpy = 0, torch = 1, cupy = 2, dlpack = 3 };

/// Anything importable as an ndarray; read-only access is enough for every input.
using array_arg = nb::ndarray<nb::ro>;

/// An inspected input: where the elements are and how the library will see them.
struct input {
    std::string name;        ///< the Python argument name, for messages
    const void* data = nullptr;
    shape_t shape;           ///< shape of the C-ordered array the library sees
    shape_t user_shape;      ///< shape as the caller sees it
    bool reversed = false;   ///< Fortran-ordered: `shape` is `user_shape` reversed
    dtype_kind dtype = dtype_kind::f64;
    device_kind device = device_kind::cpu;
    int device_id = 0;

    std::size_t ndim() const { return user_shape.size(); }
    std::string device_name() const {
        return device == device_kind::cpu ? "cpu" : "cuda:" + std::to_string(device_id);
    }
    const char* dtype_name() const { return dtype == dtype_kind::f32 ? "float32" : "float64"; }
};

inline std::string dlpack_dtype_name(nb::dlpack::dtype d) {
    using code = nb::dlpack::dtype_code;
    std::string base;
    switch (static_cast<code>(d.code)) {
        case code::Int: base = "int"; break;
        case code::UInt: base = "uint"; break;
        case code::Float: base = "float"; break;
        case code::Bfloat: base = "bfloat"; break;
        case code::Complex: base = "complex"; break;
        case code::Bool: return "bool";
        default: base = "dlpack-code-" + std::to_string(d.code) + "-"; break;
    }
    std::string s = base + std::to_string(d.bits);
    if (d.lanes != 1) s += "x" + std::to_string(d.lanes);
    return s;
}

inline const char* dlpack_device_name(int type) {
    switch (type) {
        case 1: return "cpu";
        case 2: return "cuda";
        case 3: return "cuda_host";
        case 4: return "opencl";
        case 7: return "vulkan";
        case 8: return "metal";
        case 10: return "rocm";
        case 11: return "rocm_host";
        case 13: return "cuda_managed";
        case 14: return "oneapi";
        default: return "unknown";
    }
}

/// Inspects `a` (see the header comment). ndim must lie in [min_ndim, max_ndim].
inline input inspect(const array_arg& a, const char* name, std::size_t min_ndim, std::size_t max_ndim) {
    input in;
    in.name = name;
    const nb::dlpack::dtype dt = a.dtype();
    if (dt == nb::dtype<float>())
        in.dtype = dtype_kind::f32;
    else if (dt == nb::dtype<double>())
        in.dtype = dtype_kind::f64;
    else
        throw dtype_error("argument '" + in.name + "': expected a float32 or float64 array, got " +
                          dlpack_dtype_name(dt) + " (convert it explicitly, e.g. a.astype(numpy.float64))");

    const int dev = a.device_type();
    if (dev == nb::device::cpu::value)
        in.device = device_kind::cpu;
    else if (dev == nb::device::cuda::value)
        in.device = device_kind::cuda;
    else
        throw device_error("argument '" + in.name + "' lives on an unsupported device (DLPack device type " +
                           std::to_string(dev) + ", " + dlpack_device_name(dev) +
                           "); lowrank computes on the CPU or on a CUDA device");
    in.device_id = a.device_id();

    const std::size_t nd = a.ndim();
    in.user_shape.resize(nd);
    for (std::size_t i = 0; i < nd; ++i) in.user_shape[i] = a.shape(i);
    if (nd < min_ndim || nd > max_ndim) {
        std::string want = min_ndim == max_ndim ? std::to_string(min_ndim) + "-d"
                                                : "at least " + std::to_string(min_ndim) + "-d";
        if (min_ndim == 2 && max_ndim == 2) want = "a matrix (2-d)";
        throw shape_error("argument '" + in.name + "': expected " + want + " array, got shape " +
                          to_string(in.user_shape));
    }

    // Layout from the strides (in elements); size-1 axes may carry any stride.
    bool c_order = true, f_order = true;
    std::int64_t acc = 1;
    for (std::size_t i = nd; i-- > 0;) {
        if (in.user_shape[i] != 1 && a.stride(i) != acc) c_order = false;
        acc *= static_cast<std::int64_t>(in.user_shape[i]);
    }
    acc = 1;
    for (std::size_t i = 0; i < nd; ++i) {
        if (in.user_shape[i] != 1 && a.stride(i) != acc) f_order = false;
        acc *= static_cast<std::int64_t>(in.user_shape[i]);
    }
    if (numel(in.user_shape) <= 1) c_order = true;
    if (!c_order && !f_order) {
        std::string strides = "(";
        for (std::size_t i = 0; i < nd; ++i) strides += (i ? ", " : "") + std::to_string(a.stride(i));
        strides += ")";
        throw layout_error("argument '" + in.name + "' of shape " + to_string(in.user_shape) +
                           " is neither C- nor Fortran-contiguous (strides " + strides +
                           " elements); lowrank reads arrays in place and never copies silently: "
                           "pass a contiguous copy, e.g. numpy.ascontiguousarray(a)");
    }
    in.reversed = !c_order;
    in.shape = in.user_shape;
    if (in.reversed) std::reverse(in.shape.begin(), in.shape.end());
    in.data = a.data();
    return in;
}

/// Throws device_error / dtype_error unless `b` can be combined with `a` in one call.
inline void require_same_device_and_dtype(const input& a, const input& b) {
    if (a.device != b.device || a.device_id != b.device_id)
        throw device_error("arguments '" + a.name + "' and '" + b.name + "' are on different devices (" +
                           a.device_name() + " and " + b.device_name() +
                           "); move one of them first, lowrank does not copy between devices");
    if (a.dtype != b.dtype)
        throw dtype_error("arguments '" + a.name + "' and '" + b.name + "' have different dtypes (" + a.dtype_name() +
                          " and " + b.dtype_name() + "); convert one of them explicitly");
}

/// Where a result lives and in which framework it is returned.
struct target {
    framework fw = framework::numpy;
    device_kind device = device_kind::cpu;
    int device_id = 0;
};

namespace detail {

template <class T, class Framework>
nb::object make_array(T* data, const std::vector<std::size_t>& shape, const std::vector<std::int64_t>& strides,
                      nb::handle owner, int device_type, int device_id) {
    return nb::cast(nb::ndarray<Framework, T>(data, shape.size(), shape.data(), owner, strides.data(),
                                              nb::dtype<T>(), device_type, device_id));
}

}  // namespace detail

/// Hands `storage` (an owning container with value_type, data()) to Python without copying.
/// `shape` is its C-order shape; with `reversed` the Python array has the axes reversed (the
/// Fortran-ordered view of the same memory).
template <class Storage>
nb::object to_python(Storage&& storage, const shape_t& shape, bool reversed, const target& t) {
    using S = std::decay_t<Storage>;
    using T = typename S::value_type;
    auto* heap = new S(std::forward<Storage>(storage));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<S*>(p); });
    std::vector<std::size_t> sh(shape.begin(), shape.end());
    std::vector<std::int64_t> st(shape.size());
    std::int64_t acc = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        st[i] = acc;
        acc *= static_cast<std::int64_t>(shape[i]);
    }
    if (reversed) {
        std::reverse(sh.begin(), sh.end());
        std::reverse(st.begin(), st.end());
    }
    T* data = heap->data();
    const int dev = t.device == device_kind::cpu ? nb::device::cpu::value : nb::device::cuda::value;
    switch (t.fw) {
        case framework::numpy: return detail::make_array<T, nb::numpy>(data, sh, st, owner, dev, t.device_id);
        case framework::torch: return detail::make_array<T, nb::pytorch>(data, sh, st, owner, dev, t.device_id);
        case framework::cupy: return detail::make_array<T, nb::cupy>(data, sh, st, owner, dev, t.device_id);
        case framework::dlpack: break;
    }
    return detail::make_array<T, nb::array_api>(data, sh, st, owner, dev, t.device_id);
}

/// A host vector as a 1-d numpy array (no copy).
template <class T>
nb::object host_vector(std::vector<T>&& v) {
    const shape_t s{v.size()};
    return to_python(std::move(v), s, false, target{});
}

}  // namespace lowrank::python
