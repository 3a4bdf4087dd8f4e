// Building blocks of the Gram-matrix route to the SVD, shared by the Gram method and the
// randomized variants of truncated_svd (linalg/svd.hpp): LAPACK's thin SVD on a work copy, a
// level-3 orthonormalisation of thin blocks (CholeskyQR2), and the truncated SVD of a wide
// matrix through its Gram matrix with a CholeskyQR2 refinement that restores full accuracy of
// the kept triplets. Accuracy caveat of every Gram route: singular values below √ε·σ_1 are not
// resolved; the functions detect when a kept one is and decline (callers use LAPACK).
#pragma once

#include "lowrank/backend/concept.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace lowrank::detail {

/// Thin SVD of the m×n matrix held in `work` (destroyed): u m×k, vt k×n, sigma k values.
template <backend_context Ctx, class Tensor>
int thin_svd(Ctx& ctx, Tensor& work, std::size_t m, std::size_t n, svd_driver driver, Tensor& u, Tensor& vt,
             std::vector<typename Tensor::value_type>& sigma) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const std::size_t k = std::min(m, n);
    u = B::template empty<T>(ctx, {m, k});
    vt = B::template empty<T>(ctx, {k, n});
    sigma.assign(k, T(0));
    return B::svd(ctx, m, n, B::data(work), sigma.data(), B::data(u), B::data(vt), driver);
}

/// X ← α·op(L)⁻¹·X (side::left) or α·X·op(L)⁻¹ (side::right) for a lower-triangular L that
/// the caller knows to be well conditioned (the Cholesky factors below: CholeskyQR2 declines
/// κ ≳ 1/(32√ε), gram_svd_rows σ_r < 32√ε·σ_1): the backend's trsm_via_inverse when it has
/// one and takes the shape (a GEMM with L⁻¹), else trsm.
template <backend_context Ctx, class T>
void solve_lower(Ctx& ctx, side s, op t, std::size_t m, std::size_t n, T alpha, const T* l, std::size_t ldl, T* x,
                 std::size_t ldx) {
    using B = backend_of<Ctx>;
    if constexpr (requires { B::trsm_via_inverse(ctx, s, t, m, n, alpha, l, ldl, x, ldx); })
        if (B::trsm_via_inverse(ctx, s, t, m, n, alpha, l, ldl, x, ldx)) return;
    B::trsm(ctx, s, t, m, n, alpha, l, ldl, x, ldx);
}

/// Orthonormalises the k×b row-major block y (k ≥ b) in place by CholeskyQR2 on the
/// column-equilibrated Gram matrix (syrk + potrf + trsm, twice: level-3 only, where Householder
/// QR of a thin block runs level-2 code). Returns false — y then holds no useful data — when
/// the block is too ill-conditioned for it (a Cholesky pivot below 32·√ε of the largest, i.e.
/// κ ≳ 1/(32√ε)); callers then orthonormalise a copy with Householder QR.
template <backend_context Ctx, class Tensor>
bool cholesky_qr2(Ctx& ctx, std::size_t k, std::size_t b, typename Tensor::value_type* y, Tensor& g) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    std::vector<T> h(b * b), scale(b);
    for (int pass = 0; pass < 2; ++pass) {
        B::syrk(ctx, op::trans, b, k, T(1), y, b, T(0), B::data(g), b);
        B::download(ctx, g, h.data());
        for (std::size_t i = 0; i < b; ++i) {
            if (!(h[i * b + i] > T(0)) || !std::isfinite(h[i * b + i])) return false;
            scale[i] = T(1) / std::sqrt(h[i * b + i]);
        }
        for (std::size_t i = 0; i < b; ++i)
            for (std::size_t j = 0; j < b; ++j) h[i * b + j] *= scale[i] * scale[j];
        g = B::template upload<T>(ctx, h.data(), {b, b});
        if (B::potrf(ctx, b, B::data(g)) != 0) return false;
        B::download(ctx, g, h.data());
        T lo = h[0], hi = h[0];
        for (std::size_t i = 0; i < b; ++i) lo = std::min(lo, h[i * b + i]), hi = std::max(hi, h[i * b + i]);
        if (!(lo > T(32) * std::sqrt(std::numeric_limits<T>::epsilon()) * hi)) return false;
        B::scale_columns(ctx, k, b, y, scale.data());                          // y ← y D⁻¹
        solve_lower(ctx, side::right, op::trans, k, b, T(1), B::data(g), b, y, b);  // y ← y L⁻ᵀ
    }
    return true;
}

/// Truncated SVD of a wide d×K matrix M (d ≤ K) through its Gram matrix: M is `a` (row-major
/// d×K) or, with `transposed`, the transpose of `a` (row-major K×d). The eigenvalues of M Mᵀ
/// give every singular value (for the rank choice `choose(spectrum)`); the leading r
/// eigenvectors W_r give C = W_rᵀ M ≈ Σ_r V_rᵀ, whose rows are made orthonormal by a Cholesky
/// factor (C = L Vt', CholeskyQR2), and the SVD of the small L = P Σ Yᵀ gives
/// M ≈ (W_r P) Σ (Yᵀ Vt'): σ to working accuracy and orthonormal factors, at a cost of
/// d²K/2 (syrk) + r·d·K + 2.5·r²·K multiply-adds plus an eigensolver of order d — ~5× less
/// than gesdd on M when d ≪ K. w_out is d × r (W_r P), vt_out r × K (Yᵀ Vt').
/// Returns false (outputs unusable) when σ_r < 32·√ε·σ_1: the Gram matrix has then lost the
/// r-th direction, and the caller must use a direct SVD.
template <backend_context Ctx, class T, class Choose, class Tensor>
bool gram_svd_rows(Ctx& ctx, const T* a, std::size_t d, std::size_t K, bool transposed, Choose choose,
                   Tensor& w_out, Tensor& vt_out, std::vector<T>& spectrum, std::size_t& rank, int& info) {
    using B = backend_of<Ctx>;
    Tensor g = B::template empty<T>(ctx, {d, d});
    B::syrk(ctx, transposed ? op::trans : op::none, d, K, T(1), a, transposed ? d : K, T(0), B::data(g), d);
    std::vector<T> lam(d);
    info = std::max(info, B::syevd(ctx, d, B::data(g), lam.data()));
    spectrum.assign(d, T(0));
    for (std::size_t i = 0; i < d; ++i) spectrum[i] = std::sqrt(std::max(lam[d - 1 - i], T(0)));
    const std::size_t r = choose(spectrum);
    rank = r;
    if (r == 0) {
        w_out = B::template empty<T>(ctx, {d, 0});
        vt_out = B::template empty<T>(ctx, {0, K});
        return true;
    }
    if (!(spectrum[r - 1] > T(32) * std::sqrt(std::numeric_limits<T>::epsilon()) * spectrum[0])) return false;
    Tensor wt = B::template empty<T>(ctx, {r, d});  // W_rᵀ: eigenvectors are rows of g, ascending
    for (std::size_t i = 0; i < r; ++i) B::copy(ctx, d, B::data(g) + (d - 1 - i) * d, B::data(wt) + i * d);
    Tensor c = B::template empty<T>(ctx, {r, K});  // C = W_rᵀ M
    if (transposed)
        B::gemm(ctx, op::none, op::trans, r, K, d, T(1), B::data(wt), d, a, d, T(0), B::data(c), K);
    else
        B::gemm(ctx, op::none, op::none, r, K, d, T(1), B::data(wt), d, a, K, T(0), B::data(c), K);
    // Rows of C: C Cᵀ = L Lᵀ, Vt' = L⁻¹ C, twice; the product of the two L accumulates in lacc.
    Tensor s = B::template empty<T>(ctx, {r, r});
    std::vector<T> lacc(r * r, T(0)), lh(r * r);
    for (std::size_t i = 0; i < r; ++i) lacc[i * r + i] = T(1);
    for (int pass = 0; pass < 2; ++pass) {
        B::syrk(ctx, op::none, r, K, T(1), B::data(c), K, T(0), B::data(s), r);
        if (B::potrf(ctx, r, B::data(s)) != 0) return false;
        solve_lower(ctx, side::left, op::none, r, K, T(1), B::data(s), r, B::data(c), K);
        B::download(ctx, s, lh.data());
        // lacc ← lacc · L (both lower triangular), accumulated in double; row-oriented (t outer,
        // j inner: unit stride, vectorised) with each sum still taken over t in ascending order.
        std::vector<T> prod(r * r, T(0));
        std::vector<double> row(r);
        for (std::size_t i = 0; i < r; ++i) {
            std::fill(row.begin(), row.end(), 0.0);
            for (std::size_t t = 0; t <= i; ++t) {
                const double f = double(lacc[i * r + t]);
                const T* lrow = &lh[t * r];
                for (std::size_t j = 0; j <= t; ++j) row[j] += f * double(lrow[j]);
            }
            for (std::size_t j = 0; j <= i; ++j) prod[i * r + j] = T(row[j]);
        }
        lacc = std::move(prod);
    }
    Tensor lt = B::template upload<T>(ctx, lacc.data(), {r, r});  // M ≈ W_r · Lacc · Vt'
    Tensor p, yt;
    std::vector<T> sig;
    info = std::max(info, thin_svd(ctx, lt, r, r, svd_driver::gesdd, p, yt, sig));
    for (std::size_t i = 0; i < r; ++i) spectrum[i] = sig[i];
    w_out = B::template empty<T>(ctx, {d, r});
    B::gemm(ctx, op::trans, op::none, d, r, r, T(1), B::data(wt), d, B::data(p), r, T(0), B::data(w_out), r);
    vt_out = B::template empty<T>(ctx, {r, K});
    B::gemm(ctx, op::none, op::none, r, K, r, T(1), B::data(yt), r, B::data(c), K, T(0), B::data(vt_out), K);
    return true;
}

}  // namespace lowrank::detail
