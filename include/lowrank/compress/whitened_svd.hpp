// Whitened (truncation-aware) SVD — SVD-LLM's compression of one linear layer.
//
// Given W [m, n] (PyTorch [out, in]) and a whitener S with S Sᵀ = H = X Xᵀ
// (compress/whitening.hpp), take the SVD W·S = U Σ Vᵀ, keep the leading r triplets and set
//     W′ = U_r Σ_r V_rᵀ S⁻¹.
// Then (W − W′)·S = U Σ Vᵀ − U_r Σ_r V_rᵀ, so
//     ‖(W − W′) X‖²_F = tr((W − W′) H (W − W′)ᵀ) = ‖(W − W′) S‖²_F = Σ_{i>r} σ_i²,
// and by Eckart–Young W′ minimises the output error ‖(W − W′)X‖_F over all rank-r W′ (when S
// is invertible). The σ_i² of W·S are therefore the exact per-matrix loss curve an allocator
// needs (compress/allocation.hpp: loss_curve). With S = I this is the plain truncated SVD;
// under a rescaling of the input channels (W → W D⁻¹, X → D X) the result maps exactly
// (W′ → W′ D⁻¹), which plain SVD does not.
//
// Factor layout (io/factorized.hpp, form "svd"): W′ = u · vᵀ with
//     u = U_r Σ_r          [m, r]      (sigma_split::left, the default), and
//     v = S⁻ᵀ V_r          [n, r]      i.e. vᵀ = V_rᵀ S⁻¹,
// or u = U_r Σ_r^{1/2}, v = S⁻ᵀ V_r Σ_r^{1/2} (sigma_split::balanced). Note that v is not
// orthonormal unless S is (orthonormality is not needed to run y = u (vᵀ x)).
//
// The exactness above is for the Gram the whitener factors (S Sᵀ); whitener::defect says how
// far that is from H (ridge, shrinkage, clamped eigenvalues). For a diagonal (ASVD) whitener the
// discarded energy is ‖(W − W′) S‖²_F, a proxy, not the output error (use output_error()).
//
// Precision: W·S and its SVD run in W's element type T; S⁻¹ is applied in float64.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/compress/whitening.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/linalg/tensor_ops.hpp"
#include "lowrank/linalg/truncation.hpp"
#include "lowrank/linalg/svd.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace lowrank {

/// Where the kept singular values go.
enum class sigma_split {
    left,      ///< u = U_r Σ_r, v = S⁻ᵀ V_r (the factorised file's "svd" form)
    balanced,  ///< u = U_r Σ_r^{1/2}, v = S⁻ᵀ V_r Σ_r^{1/2}
};

struct whitened_svd_options {
    truncation trunc{};                     ///< rank cap and/or relative whitened-error target ε
    svd_driver driver = svd_driver::gesdd;  ///< LAPACK driver of the SVD of W·S
    sigma_split split = sigma_split::left;
    bool compute_plain_error = true;        ///< fill plain_rel_error (one m×n×r product)
};

template <class Tensor>
struct whitened_svd_result {
    Tensor u;                               ///< [m, r]
    Tensor v;                               ///< [n, r];  W′ = u · vᵀ
    std::vector<double> spectrum;           ///< σ_1 ≥ … ≥ σ_k of W·S, k = min(m, n)
    std::size_t rank = 0;                   ///< r
    double total_energy = 0;                ///< ‖W S‖²_F = Σ σ_i²  (= ‖W X‖²_F when S Sᵀ = H)
    double discarded_energy = 0;            ///< Σ_{i>r} σ_i²  (= predicted ‖(W − W′) X‖²_F)
    double rel_error = std::numeric_limits<double>::quiet_NaN();        ///< sqrt(discarded / total)
    double plain_rel_error = std::numeric_limits<double>::quiet_NaN();  ///< ‖W − W′‖_F / ‖W‖_F
    whitener_kind whitener = whitener_kind::identity;
    lowrank::status status = lowrank::status::ok;
};

/// Whitened truncated SVD of W [m, n] with the whitener s (see the header comment).
/// Rank: opt.trunc as in truncated_svd — a cap r ≤ min(m, n) and/or the smallest rank with
/// sqrt(discarded / total) ≤ ε (ε is a *whitened*, i.e. output, relative error).
/// Throws shape_error (W not a matrix, or n ≠ s.channels) and rank_error (cap > min(m, n)).
/// Numerical outcomes go to status: NaN/Inf in W → nonfinite_input; a whitener whose status is
/// not ok passes its status on; an SVD that does not converge → no_convergence. Factors are
/// empty unless status is ok.
template <backend_context Ctx, class Tensor>
whitened_svd_result<Tensor> whitened_svd(Ctx& ctx, const Tensor& w, const whitener<backend_of<Ctx>>& s,
                                         const whitened_svd_options& opt = {}) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    detail::require_matrix<Ctx>(w, "whitened_svd");
    opt.trunc.validate();
    const shape_t ws = B::shape(w);
    const std::size_t m = ws[0], n = ws[1], k = std::min(m, n);
    if (n != s.channels)
        throw shape_error("whitened_svd: W of shape " + to_string(ws) + " has " + std::to_string(n) +
                          " input channels but the whitener has " + std::to_string(s.channels));
    if (k == 0) throw shape_error("whitened_svd: W of shape " + to_string(ws) + " is empty");
    const auto cap = opt.trunc.cap_for(0, 1);
    if (cap && *cap > k)
        throw rank_error("whitened_svd: rank " + std::to_string(*cap) + " exceeds min(m, n) = " + std::to_string(k));

    whitened_svd_result<Tensor> res;
    res.whitener = s.kind;
    if (s.status != status::ok) {
        res.status = s.status;
        return res;
    }
    if (!B::all_finite(ctx, m * n, B::data(w))) {
        res.status = status::nonfinite_input;
        return res;
    }

    Tensor a = whiten_right(ctx, s, w);
    Tensor uu, vt;
    std::vector<T> sigma;
    if (detail::thin_svd(ctx, a, m, n, opt.driver, uu, vt, sigma) > 0) {
        res.status = status::no_convergence;
        return res;
    }
    res.spectrum.assign(sigma.begin(), sigma.end());
    for (double v : res.spectrum) res.total_energy += v * v;
    const double budget = opt.trunc.rel_error * opt.trunc.rel_error * res.total_energy;
    const std::size_t r = choose_rank(opt.trunc, sigma, k, cap, budget, "whitened_svd");
    res.rank = r;
    res.discarded_energy = tail_energy(sigma, r);
    res.rel_error = res.total_energy > 0 ? std::sqrt(res.discarded_energy / res.total_energy) : 0.0;

    // u = U_r Σ_r (or Σ_r^{1/2}).
    detail::keep_leading_columns(ctx, uu, r);
    std::vector<T> left(r), right(r, T(1));
    for (std::size_t i = 0; i < r; ++i) {
        left[i] = opt.split == sigma_split::left ? sigma[i] : std::sqrt(sigma[i]);
        if (opt.split == sigma_split::balanced) right[i] = std::sqrt(sigma[i]);
    }
    B::scale_columns(ctx, m, r, B::data(uu), left.data());
    res.u = std::move(uu);

    // v = (V_rᵀ S⁻¹)ᵀ (· Σ_r^{1/2}), with S⁻¹ applied in float64.
    detail::keep_leading_rows(ctx, vt, r);
    auto vt_d = detail::compress::convert<double>(ctx, vt);
    unwhiten_right(ctx, s, vt_d);
    auto v_d = B::template empty<double>(ctx, {n, r});
    B::transpose(ctx, r, n, B::data(vt_d), B::data(v_d));
    if (opt.split == sigma_split::balanced) {
        const std::vector<double> rd(right.begin(), right.end());
        B::scale_columns(ctx, n, r, B::data(v_d), rd.data());
    }
    res.v = detail::compress::convert<T>(ctx, v_d);

    if (opt.compute_plain_error) {
        Tensor e = B::template empty<T>(ctx, ws);
        B::copy(ctx, m * n, B::data(w), B::data(e));
        B::gemm(ctx, op::none, op::trans, m, n, r, T(-1), B::data(res.u), r, B::data(res.v), r, T(1), B::data(e), n);
        const double wn = static_cast<double>(B::nrm2(ctx, m * n, B::data(w)));
        res.plain_rel_error = wn > 0 ? static_cast<double>(B::nrm2(ctx, m * n, B::data(e))) / wn : 0.0;
    }
    return res;
}

}  // namespace lowrank
