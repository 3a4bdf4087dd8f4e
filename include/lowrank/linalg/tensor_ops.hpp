// Tensor algebra on any backend: unfold/fold, mode-n products, Gram matrices of unfoldings,
// Frobenius norms and inner products.
//
// Conventions. Tensors are dense and row-major (C order): for a tensor X of shape
// (I_0, …, I_{N-1}) the last index varies fastest. Around mode n we view X as the 3-way
// array (L, I_n, R) with L = I_0⋯I_{n-1} and R = I_{n+1}⋯I_{N-1} — a reshape, no copy.
//
// Unfolding. unfold(X, n) is the I_n × (L·R) matrix X_(n) whose row i holds the slice
// X[…, i, …] in C order of the remaining indices (i_0, …, i_{n-1}, i_{n+1}, …, i_{N-1}),
// i.e. numpy's moveaxis(X, n, 0).reshape(I_n, -1). This is TensorLy's `unfold`. Kolda &
// Bader (2009) order the remaining indices with the *first* one fastest (Fortran order);
// the two unfoldings differ only by a permutation of columns, so they have the same row
// space, singular values and left singular vectors — everything a Tucker decomposition uses.
//
// Mode-n product. Y = X ×_n A for A of shape J × I_n has shape (…, J, …) with
// Y[l, j, r] = Σ_i A[j, i] X[l, i, r], i.e. Y_(n) = A · X_(n). It is computed in place of
// the unfolding: one GEMM when n is the first mode (L = 1) or the last (R = 1), otherwise L
// strided-batched GEMMs over the (L, I_n, R) view. `a_op = op::trans` multiplies by Aᵀ
// instead (A stored I_n × J), which projects onto a factor's columns without a transpose.
// A backend may provide its own kernel for the whole product (B::mode_product_kernel, optional;
// the xtensor backend's SIMD kernel reads X in place and runs at or above raw-GEMM speed on
// every mode, see backend/detail/mode_kernel.hpp); it is used when it reports success.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

namespace lowrank {

namespace detail {
template <class Ctx, class Tensor>
void require_matrix(const Tensor& a, const char* what) {
    using B = backend_of<Ctx>;
    if (B::shape(a).size() != 2)
        throw shape_error(std::string(what) + ": expected a matrix, got a tensor of shape " +
                          to_string(B::shape(a)));
}
}  // namespace detail

/// Mode-n unfolding X_(n) (I_n × ∏_{m≠n} I_m); see the header comment for the column order.
template <backend_context Ctx, class Tensor>
Tensor unfold(Ctx& ctx, const Tensor& x, std::size_t n) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t s = B::shape(x);
    check_mode(n, s.size());
    const std::size_t L = size_before(s, n), I = s[n], R = size_after(s, n);
    Tensor out = B::template empty<T>(ctx, {I, L * R});
    B::swap_outer(ctx, L, I, R, B::data(x), B::data(out));
    return out;
}

/// Inverse of unfold: the tensor of shape `shape` whose mode-n unfolding is `m`.
template <backend_context Ctx, class Tensor>
Tensor fold(Ctx& ctx, const Tensor& m, std::size_t n, const shape_t& shape) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    check_mode(n, shape.size());
    const shape_t ms = B::shape(m);
    const std::size_t L = size_before(shape, n), I = shape[n], R = size_after(shape, n);
    if (ms.size() != 2 || ms[0] != I || ms[1] != L * R)
        throw shape_error("fold: a matrix of shape " + to_string(ms) + " is not the mode-" + std::to_string(n) +
                          " unfolding of a tensor of shape " + to_string(shape));
    Tensor out = B::template empty<T>(ctx, shape);
    B::swap_outer(ctx, I, L, R, B::data(m), B::data(out));
    return out;
}

/// Y = X ×_n op(A). op(A) must be J × I_n; the result has I_n replaced by J.
template <backend_context Ctx, class Tensor>
Tensor mode_product(Ctx& ctx, const Tensor& x, const Tensor& a, std::size_t n, op a_op = op::none) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t xs = B::shape(x);
    check_mode(n, xs.size());
    detail::require_matrix<Ctx>(a, "mode_product");
    const shape_t as = B::shape(a);
    const std::size_t J = a_op == op::none ? as[0] : as[1];
    const std::size_t K = a_op == op::none ? as[1] : as[0];
    if (K != xs[n])
        throw shape_error("mode_product: a " + std::string(a_op == op::none ? "" : "transposed ") + "matrix of shape " +
                          to_string(as) + " cannot multiply mode " + std::to_string(n) + " (size " +
                          std::to_string(xs[n]) + ") of a tensor of shape " + to_string(xs));
    const std::size_t L = size_before(xs, n), I = xs[n], R = size_after(xs, n), lda = as[1];
    shape_t ys = xs;
    ys[n] = J;
    Tensor y = B::template empty<T>(ctx, ys);
    if (numel(ys) == 0) return y;
    if constexpr (requires { B::mode_product_kernel(ctx, a_op, L, J, I, R, B::data(a), lda, B::data(x), B::data(y)); })
        if (B::mode_product_kernel(ctx, a_op, L, J, I, R, B::data(a), lda, B::data(x), B::data(y))) return y;
    if (R == 1)  // Y (L×J) = X (L×I) · op(A)ᵀ
        B::gemm(ctx, op::none, flip(a_op), L, J, I, T(1), B::data(x), I, B::data(a), lda, T(0), B::data(y), J);
    else if (L == 1)  // Y (J×R) = op(A) · X (I×R)
        B::gemm(ctx, a_op, op::none, J, R, I, T(1), B::data(a), lda, B::data(x), R, T(0), B::data(y), R);
    else  // Y[l] (J×R) = op(A) · X[l] (I×R) for each l
        B::gemm_strided_batched(ctx, a_op, op::none, J, R, I, T(1), B::data(a), lda, 0, B::data(x), R, I * R, T(0),
                                B::data(y), R, J * R, L);
    return y;
}

/// X ×_{n ∈ modes} op(A_n): `factors[n]` multiplies mode n, a null entry skips the mode.
/// The products commute; they are applied in the order that shrinks the tensor fastest.
template <backend_context Ctx, class Tensor>
Tensor multi_mode_product(Ctx& ctx, const Tensor& x, const std::vector<const Tensor*>& factors, op a_op = op::none) {
    using B = backend_of<Ctx>;
    const shape_t xs = B::shape(x);
    if (factors.size() != xs.size())
        throw shape_error("multi_mode_product: " + std::to_string(factors.size()) + " factors for a tensor of order " +
                          std::to_string(xs.size()));
    std::vector<std::size_t> order;
    for (std::size_t n = 0; n < factors.size(); ++n)
        if (factors[n]) {
            detail::require_matrix<Ctx>(*factors[n], "multi_mode_product");
            order.push_back(n);
        }
    auto ratio = [&](std::size_t n) {
        const shape_t as = B::shape(*factors[n]);
        const double J = static_cast<double>(a_op == op::none ? as[0] : as[1]);
        return J / static_cast<double>(std::max<std::size_t>(xs[n], 1));
    };
    std::stable_sort(order.begin(), order.end(), [&](auto i, auto j) { return ratio(i) < ratio(j); });
    if (order.empty()) {
        Tensor y = B::template empty<typename Tensor::value_type>(ctx, xs);
        B::copy(ctx, numel(xs), B::data(x), B::data(y));
        return y;
    }
    Tensor y = mode_product(ctx, x, *factors[order[0]], order[0], a_op);
    for (std::size_t i = 1; i < order.size(); ++i) y = mode_product(ctx, y, *factors[order[i]], order[i], a_op);
    return y;
}

/// Gram matrix of the mode-n unfolding, X_(n) X_(n)ᵀ (I_n × I_n), accumulated slice by slice
/// over the (L, I_n, R) view without forming the unfolding.
template <backend_context Ctx, class Tensor>
Tensor unfolding_gram(Ctx& ctx, const Tensor& x, std::size_t n) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t xs = B::shape(x);
    check_mode(n, xs.size());
    const std::size_t L = size_before(xs, n), I = xs[n], R = size_after(xs, n);
    Tensor g = B::template zeros<T>(ctx, {I, I});
    if (R == 1)
        B::syrk(ctx, op::trans, I, L, T(1), B::data(x), I, T(0), B::data(g), I);
    else
        for (std::size_t l = 0; l < L; ++l)
            B::syrk(ctx, op::none, I, R, T(1), B::data(x) + l * I * R, R, l == 0 ? T(0) : T(1), B::data(g), I);
    return g;
}

/// Frobenius norm ‖X‖_F.
template <backend_context Ctx, class Tensor>
auto frobenius_norm(Ctx& ctx, const Tensor& x) {
    using B = backend_of<Ctx>;
    return B::nrm2(ctx, numel(B::shape(x)), B::data(x));
}

/// Inner product ⟨X, Y⟩ = Σ X·Y over tensors of the same shape.
template <backend_context Ctx, class Tensor>
auto inner_product(Ctx& ctx, const Tensor& x, const Tensor& y) {
    using B = backend_of<Ctx>;
    if (B::shape(x) != B::shape(y))
        throw shape_error("inner_product: shapes " + to_string(B::shape(x)) + " and " + to_string(B::shape(y)) +
                          " differ");
    return B::dot(ctx, numel(B::shape(x)), B::data(x), B::data(y));
}

/// ‖X − Y‖_F computed from the explicit difference (no cancellation-prone shortcut).
template <backend_context Ctx, class Tensor>
auto frobenius_distance(Ctx& ctx, const Tensor& x, const Tensor& y) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    if (B::shape(x) != B::shape(y))
        throw shape_error("frobenius_distance: shapes " + to_string(B::shape(x)) + " and " + to_string(B::shape(y)) +
                          " differ");
    const std::size_t n = numel(B::shape(x));
    Tensor d = B::template empty<T>(ctx, B::shape(x));
    B::copy(ctx, n, B::data(x), B::data(d));
    B::axpy(ctx, n, T(-1), B::data(y), B::data(d));
    return B::nrm2(ctx, n, B::data(d));
}

}  // namespace lowrank
