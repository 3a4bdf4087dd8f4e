// Output errors measured on calibration statistics instead of activations:
//     ‖M X‖²_F = tr(M H Mᵀ)   for any M [m, n] and the Gram H = X Xᵀ [n, n].
// output_energy gives ‖W X‖²_F, output_error gives ‖(W − u vᵀ) X‖²_F for a factorised W′ = u vᵀ
// (u [m, r], v [n, r]; the factorised file's layout). Both run in float64 on the backend
// (one m×n×n product); NaN/Inf anywhere in the inputs gives a NaN result.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/linalg/tensor_ops.hpp"

#include <span>
#include <string>

namespace lowrank {

namespace detail::compress {

/// tr(E H Eᵀ) for a float64 backend matrix E [m, n] and the host Gram H.
template <backend_context Ctx>
double quadratic_form(Ctx& ctx, const tensor_t<backend_of<Ctx>, double>& e, std::span<const double> gram) {
    using B = backend_of<Ctx>;
    const shape_t es = B::shape(e);
    const std::size_t m = es[0], n = es[1];
    auto h = B::template upload<double>(ctx, gram.data(), {n, n});
    auto eh = B::template empty<double>(ctx, {m, n});
    B::gemm(ctx, op::none, op::none, m, n, n, 1.0, B::data(e), n, B::data(h), n, 0.0, B::data(eh), n);
    return static_cast<double>(B::dot(ctx, m * n, B::data(eh), B::data(e)));
}

}  // namespace detail::compress

/// ‖W X‖²_F = tr(W H Wᵀ). Throws shape_error unless W is [m, n] and gram holds n·n values.
template <backend_context Ctx, class Tensor>
double output_energy(Ctx& ctx, const Tensor& w, std::span<const double> gram) {
    using B = backend_of<Ctx>;
    detail::require_matrix<Ctx>(w, "output_energy");
    detail::compress::require_square(gram, B::shape(w)[1], "output_energy");
    return detail::compress::quadratic_form(ctx, detail::compress::convert<double>(ctx, w), gram);
}

/// ‖(W − u vᵀ) X‖²_F = tr(E H Eᵀ), E = W − u vᵀ. Throws shape_error unless W is [m, n], u is
/// [m, r], v is [n, r] and gram holds n·n values.
template <backend_context Ctx, class Tensor>
double output_error(Ctx& ctx, const Tensor& w, const Tensor& u, const Tensor& v, std::span<const double> gram) {
    using B = backend_of<Ctx>;
    detail::require_matrix<Ctx>(w, "output_error");
    detail::require_matrix<Ctx>(u, "output_error");
    detail::require_matrix<Ctx>(v, "output_error");
    const shape_t ws = B::shape(w), us = B::shape(u), vs = B::shape(v);
    const std::size_t m = ws[0], n = ws[1], r = us[1];
    if (us[0] != m || vs[0] != n || vs[1] != r)
        throw shape_error("output_error: factors u " + to_string(us) + " and v " + to_string(vs) +
                          " do not factor a matrix of shape " + to_string(ws));
    detail::compress::require_square(gram, n, "output_error");
    auto e = detail::compress::convert<double>(ctx, w);
    const auto ud = detail::compress::convert<double>(ctx, u), vd = detail::compress::convert<double>(ctx, v);
    B::gemm(ctx, op::none, op::trans, m, n, r, -1.0, B::data(ud), r, B::data(vd), r, 1.0, B::data(e), n);
    return detail::compress::quadratic_form(ctx, e, gram);
}

}  // namespace lowrank
