// The two randomized SVD algorithms behind truncated_svd(…, svd_method::randomized). Both
// return the SVD of the projection of A onto a random subspace, truncated to the rank the
// caller picks from its spectrum; they differ in how the subspace is built and what it costs.
// Cost unit: one "pass" = one product of A (or Aᵀ) with a block of vectors; with l = r + p
// (rank + oversampling) and q power iterations:
//
//  * subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4; scikit-learn's algorithm):
//    Y = (A Aᵀ)^q A Ω with Ω Gaussian n×l, re-orthonormalised after every product; basis Q =
//    orth(Y), then B = Qᵀ A and the SVD of B. 2q + 2 passes of width l. Its error is governed
//    by the filter σ^(2q+1) on an l-dimensional subspace.
//
//  * block Krylov (Musco & Musco 2015, "Randomized block Krylov methods for stronger and faster
//    approximate SVD"; block Lanczos with full re-orthogonalisation): blocks of b = ⌈l/2⌉
//    vectors, depth d = q + 1, basis Q = orth[AΩ, (AAᵀ)AΩ, …, (AAᵀ)^d AΩ] of dimension
//    (d + 1)·b ≈ (q + 2)·l/2 ≈ 2l for q = 2. The products Aᵀ Q_j computed to build block j + 1
//    are also the rows Q_jᵀ A of B, so only the last block needs a projection pass:
//    2d + 2 passes of width b = q + 2 passes of width l — 4 instead of 6 at the default q = 2.
//    Accuracy: the basis holds every polynomial of degree ≤ d in AAᵀ applied to AΩ (b columns),
//    twice as many dimensions as subspace iteration's l; on spectra without tight clusters it
//    is more accurate at q = 2 (measured on SmolLM2 weights and σ_i = (1+i)^-½ at r = 1…256:
//    Eckart–Young ratio 1.000–1.013 against 1.000–1.039; tests/core/test_randomized_svd.cpp
//    bounds it by 1.02 on prescribed spectra). Its weakness is a cluster of (nearly) equal
//    singular values wider than b across the kept rank: powers of AAᵀ only scale the cluster's
//    directions, so every block brings the same b of them (exact 30-fold cluster, b = 17,
//    r = 24: 1.36× the optimum). Such a cluster shows as b equal Ritz values; block_krylov_svd
//    flags it and truncated_svd then runs subspace iteration (result.variant says so).
//    A block that loses rank (rank-deficient or zero A) keeps its resolved directions and is
//    completed with random ones orthogonal to the earlier blocks, so Q stays orthonormal and
//    B = QᵀA exact.
//
//  The products read A in place through the backend's mode-product kernel when it has one
//  (detail/mode_kernel.hpp: no packing of A per product, which dominates thin BLAS GEMMs); the
//  block orthonormalisation is CholeskyQR2 (level-3) with a Householder fallback, and the SVD of
//  B goes through its Gram matrix with a CholeskyQR2 refinement (linalg/gram_svd.hpp).
//
// The basis is built on the smaller side of A (rows when m ≤ n, else columns through Aᵀ), so
// the re-orthogonalisation works on min(m, n)-long vectors.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/linalg/tensor_ops.hpp"
#include "lowrank/linalg/gram_svd.hpp"

#include <algorithm>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace lowrank {

/// How svd_method::randomized builds its subspace (see linalg/randomized_svd.hpp).
enum class randomized_variant {
    block_krylov,        ///< blocks of ⌈(r+p)/2⌉, depth q + 1: q + 2 passes of width r + p (default)
    subspace_iteration,  ///< Halko et al. Alg. 4.4 (scikit-learn's algorithm): 2q + 2 passes
};

inline const char* to_string(randomized_variant v) {
    return v == randomized_variant::block_krylov ? "block_krylov" : "subspace_iteration";
}

namespace detail {

/// SVD of the projection of A onto the subspace a randomized variant built, truncated to the
/// rank `choose(spectrum)` picked: u (m × rank), vt (rank × n), spectrum (all computed values).
template <class Tensor>
struct projected_svd {
    Tensor u, vt;
    std::vector<typename Tensor::value_type> spectrum;
    std::size_t rank = 0;
    int info = 0;
    std::size_t passes = 0;  ///< products with A or Aᵀ, in units of the block width
    std::size_t block = 0;   ///< block width (columns per product)
    bool cluster = false;    ///< block Krylov: a cluster as wide as a block was found (see below)
};

/// Gaussian test matrix (rows × cols) from the seed, uploaded to the backend.
template <backend_context Ctx, class T>
auto gaussian_block(Ctx& ctx, std::size_t rows, std::size_t cols, std::uint64_t seed) {
    using B = backend_of<Ctx>;
    normal_generator gen(seed);
    const std::vector<T> host = gen.template fast_normals<T>(rows * cols);
    return B::template upload<T>(ctx, host.data(), {rows, cols});
}

/// Halko et al. Alg. 4.4 with l columns and q power iterations (2q + 2 passes of width l).
template <backend_context Ctx, class Tensor, class Choose>
projected_svd<Tensor> subspace_iteration_svd(Ctx& ctx, const Tensor& a, std::size_t l, std::size_t q,
                                             std::uint64_t seed, svd_driver driver, Choose choose) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t as = B::shape(a);
    const std::size_t m = as[0], n = as[1];
    projected_svd<Tensor> res;
    res.block = l;
    Tensor omega = gaussian_block<Ctx, T>(ctx, n, l, seed);
    Tensor y = B::template empty<T>(ctx, {m, l});
    B::gemm(ctx, op::none, op::none, m, l, n, T(1), B::data(a), n, B::data(omega), l, T(0), B::data(y), l);
    int info = B::orthonormalize_columns(ctx, m, l, B::data(y));
    Tensor z = B::template empty<T>(ctx, {n, l});
    for (std::size_t it = 0; it < q; ++it) {
        B::gemm(ctx, op::trans, op::none, n, l, m, T(1), B::data(a), n, B::data(y), l, T(0), B::data(z), l);
        info = std::max(info, B::orthonormalize_columns(ctx, n, l, B::data(z)));
        B::gemm(ctx, op::none, op::none, m, l, n, T(1), B::data(a), n, B::data(z), l, T(0), B::data(y), l);
        info = std::max(info, B::orthonormalize_columns(ctx, m, l, B::data(y)));
    }
    Tensor small = B::template empty<T>(ctx, {l, n});  // B = Qᵀ A
    B::gemm(ctx, op::trans, op::none, l, n, m, T(1), B::data(y), l, B::data(a), n, T(0), B::data(small), n);
    Tensor ub, vt;
    info = std::max(info, thin_svd(ctx, small, l, n, driver, ub, vt, res.spectrum));
    res.rank = choose(res.spectrum);
    res.vt = B::template empty<T>(ctx, {res.rank, n});
    B::copy(ctx, res.rank * n, B::data(vt), B::data(res.vt));
    res.u = B::template empty<T>(ctx, {m, res.rank});
    B::gemm(ctx, op::none, op::none, m, res.rank, l, T(1), B::data(y), l, B::data(ub), l, T(0), B::data(res.u),
            res.rank);
    res.info = info;
    res.passes = 2 * q + 2;
    return res;
}

/// Largest Krylov depth whose basis ((d + 1) blocks of b) fits in dimension k, capped at `depth`.
inline std::size_t krylov_depth(std::size_t k, std::size_t b, std::size_t depth) {
    return std::min(depth, k / b - 1);
}

/// y (m × J) = A (m × n) · op(M)ᵀ with op(M) J × n (M row-major, leading dimension ldm): the
/// backend's mode-product kernel for the last mode when it has one (A read in place, no packing
/// of A per product, which dominates thin BLAS GEMMs), else GEMM.
template <backend_context Ctx, class Tensor>
void times_right(Ctx& ctx, const Tensor& a, op m_op, const typename Tensor::value_type* mat, std::size_t ldm,
                 std::size_t J, typename Tensor::value_type* y) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const std::size_t m = B::shape(a)[0], n = B::shape(a)[1];
    if constexpr (requires { B::mode_product_kernel(ctx, m_op, m, J, n, std::size_t(1), mat, ldm, B::data(a), y); })
        if (B::mode_product_kernel(ctx, m_op, m, J, n, std::size_t(1), mat, ldm, B::data(a), y)) return;
    B::gemm(ctx, op::none, flip(m_op), m, J, n, T(1), B::data(a), n, mat, ldm, T(0), y, J);
}

/// y (J × n) = op(M) · A (m × n) with op(M) J × m: the mode-product kernel for the first mode
/// when the backend has one, else GEMM.
template <backend_context Ctx, class Tensor>
void times_left(Ctx& ctx, const Tensor& a, op m_op, const typename Tensor::value_type* mat, std::size_t ldm,
                std::size_t J, typename Tensor::value_type* y) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const std::size_t m = B::shape(a)[0], n = B::shape(a)[1];
    if constexpr (requires { B::mode_product_kernel(ctx, m_op, std::size_t(1), J, m, n, mat, ldm, B::data(a), y); })
        if (B::mode_product_kernel(ctx, m_op, std::size_t(1), J, m, n, mat, ldm, B::data(a), y)) return;
    B::gemm(ctx, m_op, op::none, J, n, m, T(1), mat, ldm, B::data(a), n, T(0), y, n);
}

/// Randomized block Krylov (see the header comment): blocks of b, depth d, basis on the short
/// side of A. With A' = A (m ≤ n) or Aᵀ (k × K, k = min(m, n)):
///   Q_0 = orth(A' Ω);  for j = 1…d: Z = A'ᵀ Q_{j−1} (= rows j−1 of B),  Q_j = orth(A' Z ⊥ Q_{<j})
///   rows d of B = (A'ᵀ Q_d)ᵀ
/// 2d + 2 products of width b; B = Qᵀ A' (dim × K) exactly, A' ≈ Q B.
template <backend_context Ctx, class Tensor, class Choose>
projected_svd<Tensor> block_krylov_svd(Ctx& ctx, const Tensor& a, std::size_t b, std::size_t d,
                                       std::uint64_t seed, svd_driver driver, Choose choose) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t as = B::shape(a);
    const std::size_t m = as[0], n = as[1];
    const bool wide = m <= n;  // A' = A (basis on the row side) or Aᵀ (column side)
    const std::size_t k = wide ? m : n, K = wide ? n : m, dim = (d + 1) * b;
    projected_svd<Tensor> res;
    res.block = b;
    Tensor q = B::template empty<T>(ctx, {k, dim});   // basis blocks Q_0 … Q_d, side by side
    Tensor bm = B::template empty<T>(ctx, {dim, K});  // B = Qᵀ A' (row block j = (A'ᵀ Q_j)ᵀ)
    Tensor y = B::template empty<T>(ctx, {k, b}), z = B::template empty<T>(ctx, {std::max(m, n) * b, 1});
    Tensor coef = B::template empty<T>(ctx, {dim, b});
    Tensor gb = B::template empty<T>(ctx, {b, b}), ycopy = B::template empty<T>(ctx, {k, b});
    int info = 0;
    // y ← y − Q_{<j} (Q_{<j}ᵀ y)
    auto project = [&](std::size_t j) {
        if (j == 0) return;
        const std::size_t p = j * b;
        B::gemm(ctx, op::trans, op::none, p, b, k, T(1), B::data(q), dim, B::data(y), b, T(0), B::data(coef), b);
        B::gemm(ctx, op::none, op::none, k, b, p, T(-1), B::data(q), dim, B::data(coef), b, T(1), B::data(y), b);
    };
    // Rank-deficient block y (k × b, already projected off Q_{<j}; `before` = ‖y‖_F before the
    // projection): its SVD y = U Σ Vᵀ keeps the directions U_i with σ_i > 10³·ε·before (those
    // the projection resolved, far above its rounding; the final pass removes their
    // rounding-level overlap with Q_{<j}); the other columns become Gaussian vectors (seeded from the
    // sketch seed and j, so deterministic). Then project twice and Householder-orthonormalise:
    // an orthonormal block orthogonal to Q_{<j} whose span contains every resolved direction
    // of y. (A Householder QR of y alone completes a lost direction with coordinate vectors,
    // which can lie in span(Q_{<j}): a zero matrix then repeats Q_0 in every block.)
    auto complete_block = [&](std::size_t j, T before) {
        Tensor u, vt;
        std::vector<T> sig;
        info = std::max(info, thin_svd(ctx, y, k, b, driver, u, vt, sig));
        const T tol = T(1e3) * std::numeric_limits<T>::epsilon() * before;
        std::size_t keep = 0;
        while (keep < b && sig[keep] > tol) ++keep;
        B::copy(ctx, k * b, B::data(u), B::data(y));
        if (keep < b) {
            Tensor g = gaussian_block<Ctx, T>(ctx, k, b - keep, seed + 0x9E3779B97F4A7C15ull * (j + 1));
            B::copy_2d(ctx, k, b - keep, B::data(g), b - keep, B::data(y) + keep, b);
        }
        project(j);
        project(j);
        info = std::max(info, B::orthonormalize_columns(ctx, k, b, B::data(y)));
    };
    // Q_j ← y orthonormalised against Q_0 … Q_{j−1} (block Gram–Schmidt with re-orthogonalisation):
    // project, CholeskyQR2, then project again and measure the overlap c = ‖Q_{<j}ᵀ y‖_F that the
    // normalisation amplified (by up to κ(y) · ‖y‖/‖projected y‖). c ≤ √ε: y is orthonormal to
    // O(ε) (its Gram matrix is I − coefᵀcoef) and done — the usual case, two projections as in
    // classical Gram–Schmidt twice. Otherwise normalise and check again (at most 3 rounds). A
    // block too ill-conditioned for CholeskyQR2 has lost rank (a rank-deficient A, a zero
    // matrix, a Krylov space exhausted), and a block still overlapping after the rounds is
    // rounding noise: complete_block keeps its resolved directions and fills the rest with
    // random ones, so Q stays orthonormal and B = QᵀA' exact.
    auto add_block = [&](std::size_t j) {
        const T before = B::nrm2(ctx, k * b, B::data(y));
        project(j);
        B::copy(ctx, k * b, B::data(y), B::data(ycopy));
        if (!cholesky_qr2(ctx, k, b, B::data(y), gb)) {
            B::copy(ctx, k * b, B::data(ycopy), B::data(y));
            complete_block(j, before);
        } else {
            const T tol = std::sqrt(std::numeric_limits<T>::epsilon());
            for (int round = 0; j > 0; ++round) {
                project(j);  // coef = Q_{<j}ᵀ y before the subtraction
                if (!(B::nrm2(ctx, j * b * b, B::data(coef)) > tol)) break;
                B::copy(ctx, k * b, B::data(y), B::data(ycopy));
                if (round == 2 || !cholesky_qr2(ctx, k, b, B::data(y), gb)) {
                    B::copy(ctx, k * b, B::data(ycopy), B::data(y));
                    complete_block(j, std::sqrt(T(b)));  // y was orthonormal before this projection
                    break;
                }
            }
        }
        B::copy_2d(ctx, k, b, B::data(y), b, B::data(q) + j * b, dim);
    };
    // Rows of B for block j: (A'ᵀ Q_j)ᵀ, one product.
    auto rows_of_b = [&](std::size_t j) {
        T* out = B::data(bm) + j * b * K;
        if (wide) {
            times_left(ctx, a, op::trans, B::data(q) + j * b, dim, b, out);  // Q_jᵀ A (b × n)
        } else {
            times_right(ctx, a, op::trans, B::data(q) + j * b, dim, b, B::data(z));  // A Q_j (m × b)
            B::transpose(ctx, m, b, B::data(z), out);
        }
    };
    // y = A' Mᵀ for a b × K matrix M (Ωᵀ or rows of B).
    auto apply = [&](const T* mt) {
        if (wide) {
            times_right(ctx, a, op::none, mt, K, b, B::data(y));  // A Mᵀ (m × b)
        } else {
            times_left(ctx, a, op::none, mt, K, b, B::data(z));  // M A = yᵀ (b × n)
            B::transpose(ctx, b, n, B::data(z), B::data(y));
        }
    };
    {
        Tensor omega_t = gaussian_block<Ctx, T>(ctx, b, K, seed);  // Ωᵀ
        apply(B::data(omega_t));
    }
    add_block(0);
    for (std::size_t j = 1; j <= d; ++j) {
        rows_of_b(j - 1);                      // A'ᵀ Q_{j−1}
        apply(B::data(bm) + (j - 1) * b * K);  // y = A' A'ᵀ Q_{j−1}
        add_block(j);
    }
    rows_of_b(d);
    // SVD of B (dim × K) ≈ W Σ Vt, so A' ≈ (Q W) Σ Vt: through the Gram matrix of B unless a
    // kept direction is too weak for it (then LAPACK on B).
    Tensor w, vt;
    std::size_t r = 0, ldw = 0;
    if (gram_svd_rows(ctx, B::data(bm), dim, K, false, choose, w, vt, res.spectrum, r, info)) {
        ldw = r;
    } else {
        info = std::max(info, thin_svd(ctx, bm, dim, K, driver, w, vt, res.spectrum));
        r = choose(res.spectrum);
        ldw = B::shape(w)[1];
    }
    Tensor qw = B::template empty<T>(ctx, {k, r});  // Q W_r (k × r)
    B::gemm(ctx, op::none, op::none, k, r, dim, T(1), B::data(q), dim, B::data(w), ldw, T(0), B::data(qw), r);
    if (wide) {  // A ≈ (QW_r) Σ Vt_r
        res.u = std::move(qw);
        res.vt = B::template empty<T>(ctx, {r, n});
        B::copy(ctx, r * n, B::data(vt), B::data(res.vt));
    } else {  // A = A'ᵀ ≈ Vt_rᵀ Σ (QW_r)ᵀ
        res.u = B::template empty<T>(ctx, {m, r});
        B::transpose(ctx, r, m, B::data(vt), B::data(res.u));
        res.vt = B::template empty<T>(ctx, {r, n});
        B::transpose(ctx, n, r, B::data(qw), B::data(res.vt));
    }
    res.rank = r;
    res.info = info;
    res.passes = 2 * d + 2;
    // A cluster of (nearly) equal singular values as wide as a block: the powers of A'A'ᵀ only
    // scale its directions, so every block adds the same b of them and a rank reaching further
    // into the cluster is missed (an exact 30-fold cluster, b = 17, r = 24: 1.36× the optimum).
    // Flag b consecutive values within 10⁻³ of each other starting at or above the kept rank.
    for (std::size_t i = 0; i < r && i + b <= res.spectrum.size() && !res.cluster; ++i)
        res.cluster = res.spectrum[i + b - 1] >= res.spectrum[i] * T(0.999) && res.spectrum[i] > T(0);
    return res;
}

}  // namespace detail
}  // namespace lowrank
