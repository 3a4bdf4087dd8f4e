// Closed-form least-squares refit of the left factor (SVD-LLM's parameter update), in the
// sequential two-stream setting of compress/stats.hpp.
//
// A factorised layer W′ = A B with A = u [m, r] and B = vᵀ [r, n] sees the inputs X of the
// compressed prefix, while the dense model computes W X̄. Keep B and choose A to minimise
//     f(A) = ‖A B X − W X̄‖²_F
//          = tr(A M Aᵀ) − 2 tr(A Rᵀ) + tr(W H̄ Wᵀ),   M = B H Bᵀ = vᵀ H v  [r, r],
//                                                   R = W C Bᵀ = W C v   [m, r],
// with H = X Xᵀ, C = X̄ Xᵀ (so X Xᵀ-type products are all that is needed). f is a convex
// quadratic in A; ∇f = 2 A M − 2 R = 0 gives
//     A = W C v M⁻¹,   solved as A = R (M + λI)⁻¹
// with a small ridge λ = ridge·tr(M)/r for conditioning (Cholesky of M + λI and two triangular
// solves; escalated like the whitener's ridge on failure, and a pseudo-inverse through the
// eigendecomposition of M as the last resort). Single-stream (X̄ = X: C = H) this refits against
// the layer's own inputs; there, a whitened SVD's u is already the minimiser (B H Bᵀ = I and
// W H Bᵀ = U_r Σ_r), so the refit returns it unchanged up to rounding and the ridge.
//
// Reported: the change f(A_old) − f(A_new) (needs only H and C), and f itself before and after
// when H̄ is given. Everything runs in float64 on the backend; the new u has W's element type.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/compress/stats.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/linalg/tensor_ops.hpp"

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

struct refit_options {
    double ridge = 1e-8;         ///< ≥ 0: relative ridge λ₀ = ridge·tr(M)/r, always applied
    double ridge_start = 1e-10;  ///< > 0: relative ridge of the first retry after a failed Cholesky
    double ridge_growth = 100;   ///< > 1
    double ridge_max = 1e-2;     ///< retries stop above ridge_max·tr(M)/r; then the pseudo-inverse
    double pinv_floor = 1e-12;   ///< pseudo-inverse: eigenvalues below pinv_floor·λ_max are dropped

    void validate() const {
        auto bad = [](const char* what, double v) {
            throw invalid_argument(std::string("refit_options: ") + what + " out of range: " + std::to_string(v));
        };
        if (!(ridge >= 0) || !std::isfinite(ridge)) bad("ridge", ridge);
        if (!(ridge_start > 0) || !std::isfinite(ridge_start)) bad("ridge_start", ridge_start);
        if (!(ridge_growth > 1) || !std::isfinite(ridge_growth)) bad("ridge_growth", ridge_growth);
        if (!(ridge_max >= 0) || !std::isfinite(ridge_max)) bad("ridge_max", ridge_max);
        if (!(pinv_floor > 0 && pinv_floor < 1)) bad("pinv_floor", pinv_floor);
    }
};

template <class Tensor>
struct refit_result {
    Tensor u;                 ///< [m, r] the refitted left factor (W′ = u vᵀ)
    double objective_before = std::numeric_limits<double>::quiet_NaN();  ///< f(u_old); NaN without H̄
    double objective_after = std::numeric_limits<double>::quiet_NaN();   ///< f(u); NaN without H̄
    double improvement = 0;   ///< f(u_old) − f(u) (≥ 0 up to the ridge and rounding)
    double ridge = 0;         ///< absolute λ on M's diagonal
    int cholesky_attempts = 0;
    bool pseudo_inverse = false;  ///< the eigen pseudo-inverse solved it (all Cholesky attempts failed)
    lowrank::status status = lowrank::status::ok;
};

/// Refits u (see the header comment). w [m, n], u [m, r], v [n, r] (same element type);
/// gram = H [n, n]; cross = C [n, n] (empty: single-stream, C = H); ref_gram = H̄ [n, n] or
/// empty (then the absolute objectives are NaN). Throws shape_error on mismatched shapes and
/// invalid_argument for bad options. NaN/Inf in any input → status::nonfinite_input with u
/// unchanged; M with no energy (vᵀ H v = 0: B X = 0, every A is optimal) → u unchanged, ok.
template <backend_context Ctx, class Tensor>
refit_result<Tensor> refit_left_factor(Ctx& ctx, const Tensor& w, const Tensor& u, const Tensor& v,
                                       std::span<const double> gram, std::span<const double> cross = {},
                                       std::span<const double> ref_gram = {}, const refit_options& opt = {}) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    namespace dc = detail::compress;
    opt.validate();
    detail::require_matrix<Ctx>(w, "refit_left_factor");
    detail::require_matrix<Ctx>(u, "refit_left_factor");
    detail::require_matrix<Ctx>(v, "refit_left_factor");
    const shape_t ws = B::shape(w), us = B::shape(u), vs = B::shape(v);
    const std::size_t m = ws[0], n = ws[1], r = us[1];
    if (us[0] != m || vs[0] != n || vs[1] != r || r == 0)
        throw shape_error("refit_left_factor: factors u " + to_string(us) + " and v " + to_string(vs) +
                          " do not factor a matrix of shape " + to_string(ws));
    dc::require_square(gram, n, "refit_left_factor (H)");
    if (!cross.empty()) dc::require_square(cross, n, "refit_left_factor (C)");
    if (!ref_gram.empty()) dc::require_square(ref_gram, n, "refit_left_factor (H̄)");
    if (cross.empty()) cross = gram;

    refit_result<Tensor> res;
    res.u = dc::convert<T>(ctx, u);
    if (!B::all_finite(ctx, m * n, B::data(w)) || !B::all_finite(ctx, m * r, B::data(u)) ||
        !B::all_finite(ctx, n * r, B::data(v)) || !dc::all_finite(gram) || !dc::all_finite(cross) ||
        !dc::all_finite(ref_gram)) {
        res.status = status::nonfinite_input;
        return res;
    }
    const auto wd = dc::convert<double>(ctx, w), ud = dc::convert<double>(ctx, u), vd = dc::convert<double>(ctx, v);
    auto h = B::template upload<double>(ctx, gram.data(), {n, n});
    auto c = B::template upload<double>(ctx, cross.data(), {n, n});
    auto tmp = B::template empty<double>(ctx, {n, r});
    // M = vᵀ (H v), R = W (C v).
    B::gemm(ctx, op::none, op::none, n, r, n, 1.0, B::data(h), n, B::data(vd), r, 0.0, B::data(tmp), r);
    auto mm = B::template empty<double>(ctx, {r, r});
    B::gemm(ctx, op::trans, op::none, r, r, n, 1.0, B::data(vd), r, B::data(tmp), r, 0.0, B::data(mm), r);
    B::gemm(ctx, op::none, op::none, n, r, n, 1.0, B::data(c), n, B::data(vd), r, 0.0, B::data(tmp), r);
    auto rr = B::template empty<double>(ctx, {m, r});
    B::gemm(ctx, op::none, op::none, m, r, n, 1.0, B::data(wd), n, B::data(tmp), r, 0.0, B::data(rr), r);

    const std::vector<double> mh = dc::to_host(ctx, mm);
    double trace = 0;
    for (std::size_t i = 0; i < r; ++i) trace += mh[i * r + i];

    // q(A) = tr(A M Aᵀ) − 2 tr(A Rᵀ) = f(A) − tr(W H̄ Wᵀ).
    auto q = [&](const tensor_t<B, double>& a) {
        auto am = B::template empty<double>(ctx, {m, r});
        B::gemm(ctx, op::none, op::none, m, r, r, 1.0, B::data(a), r, B::data(mm), r, 0.0, B::data(am), r);
        return static_cast<double>(B::dot(ctx, m * r, B::data(am), B::data(a))) -
               2 * static_cast<double>(B::dot(ctx, m * r, B::data(a), B::data(rr)));
    };
    const double q_old = q(ud);
    double q_new = q_old;
    if (trace > 0) {
        const double mu = trace / static_cast<double>(r);
        double extra = 0;
        bool solved = false;
        auto a = B::template empty<double>(ctx, {m, r});
        for (;;) {
            std::vector<double> reg(mh);
            const double lam = opt.ridge * mu + extra;
            for (std::size_t i = 0; i < r; ++i) reg[i * r + i] += lam;
            auto l = B::template upload<double>(ctx, reg.data(), {r, r});
            ++res.cholesky_attempts;
            if (B::potrf(ctx, r, B::data(l)) == 0) {
                B::copy(ctx, m * r, B::data(rr), B::data(a));
                B::trsm(ctx, side::right, op::trans, m, r, 1.0, B::data(l), r, B::data(a), r);  // R L⁻ᵀ
                B::trsm(ctx, side::right, op::none, m, r, 1.0, B::data(l), r, B::data(a), r);   // · L⁻¹
                res.ridge = lam;
                solved = true;
                break;
            }
            const double next = extra == 0 ? opt.ridge_start * mu : extra * opt.ridge_growth;
            if (next > opt.ridge_max * mu) break;
            extra = next;
        }
        if (!solved) {  // A = R Q Λ⁺ Qᵀ from M = Q Λ Qᵀ
            std::vector<double> reg(mh);
            for (std::size_t i = 0; i < r; ++i) reg[i * r + i] += opt.ridge * mu;
            auto e = B::template upload<double>(ctx, reg.data(), {r, r});  // rows: eigenvectors
            std::vector<double> lam(r);
            if (B::syevd(ctx, r, B::data(e), lam.data()) > 0) {
                res.status = status::no_convergence;
                return res;
            }
            std::vector<double> inv(r, 0.0);
            for (std::size_t i = 0; i < r; ++i)
                if (lam[i] > opt.pinv_floor * lam[r - 1]) inv[i] = 1 / lam[i];
            auto rq = B::template empty<double>(ctx, {m, r});  // R Q (Q's columns = e's rows)
            B::gemm(ctx, op::none, op::trans, m, r, r, 1.0, B::data(rr), r, B::data(e), r, 0.0, B::data(rq), r);
            B::scale_columns(ctx, m, r, B::data(rq), inv.data());
            B::gemm(ctx, op::none, op::none, m, r, r, 1.0, B::data(rq), r, B::data(e), r, 0.0, B::data(a), r);
            res.ridge = opt.ridge * mu;
            res.pseudo_inverse = true;
        }
        q_new = q(a);
        res.u = dc::convert<T>(ctx, a);
    }
    res.improvement = q_old - q_new;
    if (!ref_gram.empty()) {
        auto hb = B::template upload<double>(ctx, ref_gram.data(), {n, n});
        auto wh = B::template empty<double>(ctx, {m, n});
        B::gemm(ctx, op::none, op::none, m, n, n, 1.0, B::data(wd), n, B::data(hb), n, 0.0, B::data(wh), n);
        const double base = static_cast<double>(B::dot(ctx, m * n, B::data(wh), B::data(wd)));
        res.objective_before = base + q_old;
        res.objective_after = base + q_new;
    }
    return res;
}

/// refit_left_factor with H, C and H̄ from calibration statistics (single-stream statistics:
/// C = H̄ = H, i.e. the refit against the layer's own inputs).
template <backend_context Ctx, class Tensor>
refit_result<Tensor> refit_left_factor(Ctx& ctx, const Tensor& w, const Tensor& u, const Tensor& v,
                                       const input_stats& stats, const refit_options& opt = {}) {
    stats.validate_shape("refit_left_factor");
    const std::span<const double> h(stats.gram);
    if (!stats.two_stream()) return refit_left_factor(ctx, w, u, v, h, h, h, opt);
    return refit_left_factor(ctx, w, u, v, h, std::span<const double>(stats.cross),
                             std::span<const double>(stats.ref_gram), opt);
}

}  // namespace lowrank
