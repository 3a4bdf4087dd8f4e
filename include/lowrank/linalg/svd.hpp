// Truncated SVD of a matrix on any backend: exact (LAPACK gesdd with gesvd fallback), Gram
// (symmetric eigensolver on AᵀA or AAᵀ, for thin ranks of very rectangular matrices), and
// randomized (Gaussian sketch with oversampling, explicit seed): randomized block Krylov by
// default, or subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4); the algorithms, their
// cost in passes over A and their accuracy are in linalg/randomized_svd.hpp.
//
// Contract: A is m × n (row-major). The result holds U (m × r, orthonormal columns),
// s (r values, descending, host) and Vt (r × n, orthonormal rows) with A ≈ U·diag(s)·Vt.
// By Eckart–Young the best rank-r approximation error is ‖A − A_r‖²_F = Σ_{i>r} σ_i²; the
// result reports that discarded energy (from the spectrum for exact/Gram, as ‖A‖² − Σ s_i²
// for randomized, which is exact for its projection), and, unless disabled, the relative
// error computed explicitly from A − U·diag(s)·Vt.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/linalg/randomized_svd.hpp"
#include "lowrank/linalg/tensor_ops.hpp"
#include "lowrank/linalg/truncation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace lowrank {

enum class svd_method {
    exact,       ///< LAPACK thin SVD of the whole matrix
    gram,        ///< eigendecomposition of the smaller Gram matrix, refined by a thin SVD
    randomized,  ///< randomized range finder + SVD of the small projected matrix
};

inline const char* to_string(svd_method m) {
    switch (m) {
        case svd_method::exact: return "exact";
        case svd_method::gram: return "gram";
        case svd_method::randomized: return "randomized";
    }
    return "unknown";
}

struct svd_options {
    truncation trunc{};  ///< what to keep (default: everything)
    svd_method method = svd_method::exact;
    svd_driver driver = svd_driver::gesdd;  ///< exact method's LAPACK driver
    std::size_t oversampling = 10;          ///< randomized: extra sketch columns p (l = r + p)
    std::size_t power_iterations = 2;       ///< randomized: q (subspace iteration: q passes of A Aᵀ;
                                            ///< block Krylov: depth q + 1 with blocks of ⌈l/2⌉)
    std::uint64_t seed = 0;                 ///< randomized: sketch seed
    /// randomized: how the subspace is built. block_krylov needs q + 2 passes over A of width l
    /// where subspace_iteration needs 2q + 2, at equal or better accuracy on spectra without
    /// clusters wider than l/2 (linalg/randomized_svd.hpp).
    randomized_variant variant = randomized_variant::block_krylov;
    bool compute_error = true;              ///< compute rel_error from the explicit residual
    /// randomized: when a randomized SVD would cost more than a deterministic one — the sketch
    /// covering a large part of min(m, n) — the cheaper of the exact and Gram methods runs instead
    /// (cost model in detail::cheapest_method; measured: randomized 2.5× slower than
    /// exact at 576×576, r = 512); svd_result::method reports which method ran.
    bool randomized_fallback = true;
};

template <class Tensor>
struct svd_result {
    using value_type = typename Tensor::value_type;
    Tensor u;                             ///< m × r, orthonormal columns
    std::vector<value_type> s;            ///< r singular values, descending
    Tensor vt;                            ///< r × n, orthonormal rows
    std::vector<value_type> spectrum;     ///< every singular value the method computed, descending
    std::size_t rank = 0;                 ///< r
    double norm = 0;                      ///< ‖A‖_F
    double discarded_energy = 0;          ///< ‖A − U·diag(s)·Vt‖²_F predicted from the spectrum
    double error_bound = 0;               ///< sqrt(discarded_energy) / ‖A‖_F
    double rel_error = std::numeric_limits<double>::quiet_NaN();  ///< explicit residual / ‖A‖_F
    svd_method method = svd_method::exact;
    /// randomized only: the variant that produced the result, the products with A or Aᵀ it took
    /// (including a block Krylov run abandoned for a clustered spectrum) and its block width.
    randomized_variant variant = randomized_variant::block_krylov;
    std::size_t passes = 0;
    std::size_t block = 0;
    lowrank::status status = lowrank::status::ok;
};

/// ‖A − U·diag(s)·Vt‖_F / norm (0 when norm is 0), computed explicitly on ctx's backend: the
/// residual svd_result::rel_error reports, for any factors (A m × n, U m × r, Vt r × n).
template <backend_context Ctx, class Tensor>
double relative_residual(Ctx& ctx, const Tensor& a, const Tensor& u, const std::vector<typename Tensor::value_type>& s,
                         const Tensor& vt, double norm) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t as = B::shape(a);
    const std::size_t m = as[0], n = as[1], r = s.size();
    Tensor us = B::template empty<T>(ctx, {m, r});
    B::copy(ctx, m * r, B::data(u), B::data(us));
    B::scale_columns(ctx, m, r, B::data(us), s.data());
    Tensor res = B::template empty<T>(ctx, {m, n});
    B::copy(ctx, m * n, B::data(a), B::data(res));
    B::gemm(ctx, op::none, op::none, m, n, r, T(-1), B::data(us), r, B::data(vt), n, T(1), B::data(res), n);
    const double e = static_cast<double>(B::nrm2(ctx, m * n, B::data(res)));
    return norm > 0 ? e / norm : 0.0;
}

namespace detail {

/// Keeps the first r columns of u (m×k).
template <backend_context Ctx, class Tensor>
void keep_leading_columns(Ctx& ctx, Tensor& u, std::size_t r) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t us = B::shape(u);
    if (us[1] != r) {
        Tensor u2 = B::template empty<T>(ctx, {us[0], r});
        B::copy_2d(ctx, us[0], r, B::data(u), us[1], B::data(u2), r);
        u = std::move(u2);
    }
}

/// Keeps the first r rows of vt (k×n).
template <backend_context Ctx, class Tensor>
void keep_leading_rows(Ctx& ctx, Tensor& vt, std::size_t r) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t vs = B::shape(vt);
    if (vs[0] != r) {
        Tensor v2 = B::template empty<T>(ctx, {r, vs[1]});
        B::copy(ctx, r * vs[1], B::data(vt), B::data(v2));
        vt = std::move(v2);
    }
}

/// Estimated run time (ns, one core) of each method for a rank-r SVD of an m×n matrix, from
/// operation counts and rates measured on the benchmark machine (AMD EPYC Zen 4, OpenBLAS
/// 0.3.21): ~32 multiply-adds/ns in GEMM-like float32 code (half in double), a symmetric
/// eigensolver of order d at 0.1·d³ ns (float32), gesdd at 0.18·k²·K ns (also for the r×r SVD
/// that the Gram route — Gram method and block Krylov — ends with: at r = 512 of 576×1536 it
/// decides between Gram and exact; without it Gram was picked and ran 2.0× slower than exact,
/// 571 vs 282 ms, bench/peers lowrank_peer under load). Only the ranking matters: the
/// randomized method runs unless a deterministic one is estimated cheaper.
inline svd_method cheapest_method(std::size_t m, std::size_t n, std::size_t r, const svd_options& opt,
                                  std::size_t elem) {
    const double k = double(std::min(m, n)), K = double(std::max(m, n)), scale = elem > 4 ? 2.0 : 1.0;
    const double fma = scale / 32.0, l = std::min(k, double(r + opt.oversampling)), rr = double(r);
    auto eig = [&](double d) { return 0.1 * scale * d * d * d; };
    const double small_svd = 0.18 * scale * rr * rr * rr;  // gram_svd_rows: SVD of the r×r factor
    double randomized;
    const std::size_t b = (std::size_t(l) + 1) / 2;
    if (opt.variant == randomized_variant::block_krylov && std::size_t(k) / b >= 2) {
        const double d = double(krylov_depth(std::size_t(k), b, opt.power_iterations + 1)), bb = double(b);
        const double dim = (d + 1) * bb;
        randomized = fma * ((2 * d + 2) * bb * k * K + 2 * k * bb * bb * (d + 1) * (d + 1) + dim * dim * K / 2 +
                            rr * dim * K + 2.5 * rr * rr * K + k * dim * rr) +
                     eig(dim) + small_svd;
    } else {
        const double q = double(opt.power_iterations);
        randomized = fma * ((2 * q + 2) * l * k * K + (2 * q + 1) * 4 * k * l * l + 4 * l * l * K);
    }
    const double gram = fma * (k * k * K / 2 + rr * k * K + 2.5 * rr * rr * K) + eig(k) + small_svd;
    const double exact = 0.18 * scale * k * k * K;
    if (randomized <= gram && randomized <= exact) return svd_method::randomized;
    return gram <= exact ? svd_method::gram : svd_method::exact;
}

}  // namespace detail

/// Truncated SVD of the matrix `a` (m × n) on the backend of `ctx`.
/// Throws shape_error unless `a` is a matrix, rank_error for a rank above min(m, n), and
/// invalid_argument for a randomized SVD without a rank cap. NaN/Inf input returns
/// status::nonfinite_input with empty factors.
template <backend_context Ctx, class Tensor>
svd_result<Tensor> truncated_svd(Ctx& ctx, const Tensor& a, const svd_options& opt) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    detail::require_matrix<Ctx>(a, "truncated_svd");
    opt.trunc.validate();
    const shape_t as = B::shape(a);
    const std::size_t m = as[0], n = as[1], k = std::min(m, n);
    const auto cap = opt.trunc.cap_for(0, 1);
    if (cap && *cap > k)
        throw rank_error("truncated_svd: rank " + std::to_string(*cap) + " exceeds min(m, n) = " + std::to_string(k) +
                         " for a " + std::to_string(m) + " x " + std::to_string(n) + " matrix");
    if (k == 0) throw shape_error("truncated_svd: the matrix " + to_string(as) + " is empty");

    if (opt.method == svd_method::randomized && !cap)
        throw invalid_argument("truncated_svd: the randomized method needs a rank cap (truncation::rank), "
                               "optionally combined with an error target");
    svd_method method = opt.method;
    if (method == svd_method::randomized && opt.randomized_fallback)
        method = detail::cheapest_method(m, n, *cap, opt, sizeof(T));

    svd_result<Tensor> res;
    res.method = method;
    if (!B::all_finite(ctx, m * n, B::data(a))) {
        res.status = status::nonfinite_input;
        return res;
    }
    res.norm = static_cast<double>(B::nrm2(ctx, m * n, B::data(a)));
    const double budget = opt.trunc.rel_error * opt.trunc.rel_error * res.norm * res.norm;
    int info = 0;

    if (method == svd_method::exact) {
        Tensor work = B::template empty<T>(ctx, as);
        B::copy(ctx, m * n, B::data(a), B::data(work));
        info = detail::thin_svd(ctx, work, m, n, opt.driver, res.u, res.vt, res.spectrum);
        res.rank = choose_rank(opt.trunc, res.spectrum, k, cap, budget, "truncated_svd");
        res.discarded_energy = tail_energy(res.spectrum, res.rank);
        detail::keep_leading_columns(ctx, res.u, res.rank);
        detail::keep_leading_rows(ctx, res.vt, res.rank);
        res.s.assign(res.spectrum.begin(), res.spectrum.begin() + static_cast<std::ptrdiff_t>(res.rank));
    } else if (method == svd_method::gram) {
        // Eigenvectors of the k×k Gram matrix of the wide orientation give one side; the other
        // follows from one product, refined to full accuracy (detail::gram_svd_rows). When a kept
        // singular value is below √ε·σ_1 the Gram matrix cannot resolve it: LAPACK on A instead.
        const bool wide = m <= n;
        auto choose = [&](const std::vector<T>& spectrum) {
            return choose_rank(opt.trunc, spectrum, k, cap, budget, "truncated_svd");
        };
        Tensor w, vt;
        if (detail::gram_svd_rows(ctx, B::data(a), k, wide ? n : m, !wide, choose, w, vt, res.spectrum, res.rank,
                                  info)) {
            if (wide) {
                res.u = std::move(w), res.vt = std::move(vt);
            } else {  // Aᵀ ≈ W Σ Vt  ⇒  A ≈ Vtᵀ Σ Wᵀ
                res.u = B::template empty<T>(ctx, {m, res.rank});
                B::transpose(ctx, res.rank, m, B::data(vt), B::data(res.u));
                res.vt = B::template empty<T>(ctx, {res.rank, n});
                B::transpose(ctx, n, res.rank, B::data(w), B::data(res.vt));
            }
        } else {
            Tensor work = B::template empty<T>(ctx, as);
            B::copy(ctx, m * n, B::data(a), B::data(work));
            info = std::max(info, detail::thin_svd(ctx, work, m, n, opt.driver, res.u, res.vt, res.spectrum));
            res.rank = choose(res.spectrum);
            detail::keep_leading_columns(ctx, res.u, res.rank);
            detail::keep_leading_rows(ctx, res.vt, res.rank);
        }
        res.s.assign(res.spectrum.begin(), res.spectrum.begin() + static_cast<std::ptrdiff_t>(res.rank));
        res.discarded_energy = tail_energy(res.spectrum, res.rank);
    } else {
        const std::size_t l = std::min(k, *cap + opt.oversampling);
        // Rank from the projection's spectrum, with the energy outside the subspace counted as
        // discarded (exact for the projection).
        auto choose = [&](const std::vector<T>& spectrum) {
            double captured = 0;
            for (T v : spectrum) captured += static_cast<double>(v) * v;
            const double outside = std::max(0.0, res.norm * res.norm - captured);
            return choose_rank(opt.trunc, spectrum, spectrum.size(), std::min(*cap, spectrum.size()),
                               std::max(0.0, budget - outside), "truncated_svd");
        };
        detail::projected_svd<Tensor> p;
        const std::size_t b = (l + 1) / 2;
        res.variant = opt.variant == randomized_variant::block_krylov && k / b >= 2 ? randomized_variant::block_krylov
                                                                                    : randomized_variant::subspace_iteration;
        std::size_t passes = 0;
        if (res.variant == randomized_variant::block_krylov) {
            p = detail::block_krylov_svd(ctx, a, b, detail::krylov_depth(k, b, opt.power_iterations + 1), opt.seed,
                                         opt.driver, choose);
            if (p.cluster) {  // Krylov blocks cannot resolve it: subspace iteration with all l columns
                passes = p.passes;
                res.variant = randomized_variant::subspace_iteration;
            }
        }
        if (res.variant == randomized_variant::subspace_iteration) {
            p = detail::subspace_iteration_svd(ctx, a, l, opt.power_iterations, opt.seed, opt.driver, choose);
            passes += p.passes;  // an abandoned Krylov run counts too
        } else {
            passes = p.passes;
        }
        res.passes = passes, res.block = p.block;
        info = p.info;
        res.u = std::move(p.u), res.vt = std::move(p.vt), res.spectrum = std::move(p.spectrum), res.rank = p.rank;
        res.s.assign(res.spectrum.begin(), res.spectrum.begin() + static_cast<std::ptrdiff_t>(res.rank));
        double kept = 0;
        for (T v : res.s) kept += static_cast<double>(v) * v;
        res.discarded_energy = std::max(0.0, res.norm * res.norm - kept);
    }
    if (info > 0) res.status = status::no_convergence;
    res.error_bound = res.norm > 0 ? std::sqrt(res.discarded_energy) / res.norm : 0.0;
    if (opt.compute_error && res.status == status::ok)
        res.rel_error = relative_residual(ctx, a, res.u, res.s, res.vt, res.norm);
    return res;
}

}  // namespace lowrank
