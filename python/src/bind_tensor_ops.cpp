// lowrank._lowrank.mode_product / unfold / fold (linalg/tensor_ops.hpp) on the input's device.
//
// mode_product reads both operands in place in C or Fortran order:
//   - a Fortran-ordered x is the C-ordered Xr with the axes reversed, and X ×_n A is
//     (Xr ×_{N-1-n} A) with the axes reversed — returned as a Fortran-ordered view;
//   - a Fortran-ordered matrix A is the C-ordered Aᵀ, multiplied with the transposed GEMM.
// unfold and fold define a C-order column layout (TensorLy's), so they need C-ordered input; the
// Python layer makes the documented C-ordered copy of a Fortran-ordered argument first.
#include "bindings.hpp"

#include "lowrank/linalg/tensor_ops.hpp"

#include <nanobind/stl/vector.h>

#include <string>
#include <vector>

namespace lowrank::python {

namespace {

nb::object mode_product_py(const array_arg& x_arg, const array_arg& m_arg, std::size_t mode, bool transpose, int fw) {
    const input x = inspect(x_arg, "x", 1, 64);
    const input m = inspect(m_arg, "m", 2, 2);
    require_same_device_and_dtype(x, m);
    const target tgt = target_of(x, fw);
    const std::size_t N = x.ndim();
    check_mode(mode, N);
    const std::size_t lib_mode = x.reversed ? N - 1 - mode : mode;
    // op applied to the library's view of m: the view of a Fortran-ordered m is already mᵀ.
    const op a_op = (transpose != m.reversed) ? op::trans : op::none;

    return on_device(x, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        return with_dtype(x, [&](auto tag) {
            using T = decltype(tag);
            using Tensor = typename B::template tensor<T>;
            const Tensor xv = Tensor::view(static_cast<const T*>(x.data), x.shape);
            const Tensor mv = Tensor::view(static_cast<const T*>(m.data), m.shape);
            auto y = compute(ctx, [&] { return mode_product(ctx, xv, mv, lib_mode, a_op); });
            const shape_t ys = B::shape(y);
            return to_python(std::move(y.owned()), ys, x.reversed, tgt);
        });
    });
}

void require_c_order(const input& in, const char* what) {
    if (in.reversed)
        throw layout_error(std::string(what) + ": argument '" + in.name +
                           "' must be C-ordered (lowrank.unfold/fold copy a Fortran-ordered array first)");
}

nb::object unfold_py(const array_arg& x_arg, std::size_t mode, int fw) {
    const input x = inspect(x_arg, "x", 1, 64);
    require_c_order(x, "unfold");
    const target tgt = target_of(x, fw);
    return on_device(x, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        return with_dtype(x, [&](auto tag) {
            using T = decltype(tag);
            using Tensor = typename B::template tensor<T>;
            const Tensor xv = Tensor::view(static_cast<const T*>(x.data), x.shape);
            auto y = compute(ctx, [&] { return unfold(ctx, xv, mode); });
            const shape_t ys = B::shape(y);
            return to_python(std::move(y.owned()), ys, false, tgt);
        });
    });
}

nb::object fold_py(const array_arg& m_arg, std::size_t mode, const std::vector<std::size_t>& shape, int fw) {
    const input m = inspect(m_arg, "m", 2, 2);
    require_c_order(m, "fold");
    const target tgt = target_of(m, fw);
    const shape_t s(shape.begin(), shape.end());
    return on_device(m, [&](auto& ctx) {
        using B = backend_of<std::decay_t<decltype(ctx)>>;
        return with_dtype(m, [&](auto tag) {
            using T = decltype(tag);
            using Tensor = typename B::template tensor<T>;
            const Tensor mv = Tensor::view(static_cast<const T*>(m.data), m.shape);
            auto y = compute(ctx, [&] { return fold(ctx, mv, mode, s); });
            const shape_t ys = B::shape(y);
            return to_python(std::move(y.owned()), ys, false, tgt);
        });
    });
}

}  // namespace

void bind_tensor_ops(nb::module_& m) {
    m.def("mode_product", &mode_product_py, nb::arg("x"), nb::arg("m"), nb::arg("mode"), nb::arg("transpose"),
          nb::arg("framework"), "Y = x ×_mode op(m) (see lowrank.mode_product).");
    m.def("unfold", &unfold_py, nb::arg("x"), nb::arg("mode"), nb::arg("framework"),
          "Mode-n unfolding of a C-ordered x (see lowrank.unfold).");
    m.def("fold", &fold_py, nb::arg("m"), nb::arg("mode"), nb::arg("shape"), nb::arg("framework"),
          "Inverse of unfold for a C-ordered matrix m (see lowrank.fold).");
}

}  // namespace lowrank::python
