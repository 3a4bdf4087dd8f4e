// Structured attention compression: reduce the value dimension of every kv group from the head
// dimension d to r ("VO" reduction, after MoDeGPT's type-III module), q/k untouched.
//
// Attention with GQA: H query heads, G kv groups (H/G heads per group), head dim d. The value of
// token t for group g is v_t^g = W_v^g x_t (W_v^g: rows g·d … g·d+d−1 of v_proj [G·d, h]); head
// h (group g(h)) outputs a_h = Σ_t α_ht v_t^{g(h)} (softmax weights α, which do not depend on
// the values), and o_proj maps a = [a_1; …; a_H] ∈ R^{H·d}: y = W_o a (W_o [m, H·d]).
// Replacing W_v^g by P_g W_v^g with P_g [r, d] gives exactly a′_h = P_g(h) a_h, so the reduced
// model computes y′ = W_o′ P a with P = blockdiag(P_g(1), …, P_g(H)) [H·r, H·d] — a linear map of
// the dense o input, whatever the attention weights. Hence, with the o-input Gram
// A = Σ_t a_t a_tᵀ [H·d, H·d] (the calibration statistics of o_proj's input):
//
//   o refit (least squares):   W_o′ = (W_o A Pᵀ)(P A Pᵀ + λI)⁻¹,   λ = ridge·mean(diag P A Pᵀ),
//   output error:              ‖W_o′ P a − W_o a‖² summed over tokens
//                              = tr(W_o A W_oᵀ) − 2 tr(W_o′ (W_o A Pᵀ)ᵀ) + tr(W_o′ P A Pᵀ W_o′ᵀ).
//
// Choice of P_g: with A_g = (1/|g|) Σ_{h ∈ g} A_hh (the mean diagonal d×d block over the group's
// heads), A_g = S_g S_gᵀ (Cholesky, ridge escalated as in the rest of compress/), and
// M_g = Σ_{h ∈ g} S_gᵀ W_o^hᵀ W_o^h S_g (W_o^h: o_proj's columns of head h), take the top-r
// eigenvectors V_r of M_g and P_g = V_rᵀ S_g⁻¹. This is the optimal rank-r projection when every
// head of the group has Gram A_g and o_proj is not refit (whitened PCA of the group's output
// contributions); the least-squares refit of o_proj then uses the full A (cross-head terms
// included), so the reported error is exact for the P chosen. With r = d, P_g is invertible, the
// refit returns W_o P⁻¹ and the output is unchanged (up to λ and rounding).
//
// Only the o-input Gram A is needed — not the attention-input Gram: P acts on the values, and
// the values reach o_proj only through a. A v_proj bias (Qwen2) maps as b_g → P_g b_g.
// Single-stream only (the target is the dense o output on the same inputs).
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/compress/detail/structured_linalg.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/linalg/tensor_ops.hpp"

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

/// Head layout of one attention block.
struct attention_heads {
    std::size_t heads = 0;     ///< H query heads
    std::size_t kv_heads = 0;  ///< G kv groups (H % G == 0)
    std::size_t head_dim = 0;  ///< d

    void validate(const char* what) const {
        if (heads == 0 || kv_heads == 0 || head_dim == 0 || heads % kv_heads != 0)
            throw invalid_argument(std::string(what) + ": inconsistent heads " + std::to_string(heads) + " / kv heads " +
                                   std::to_string(kv_heads) + " / head dim " + std::to_string(head_dim));
    }
};

struct vo_options {
    double ridge = 1e-10;  ///< ≥ 0: relative ridge of the o refit (λ = ridge·mean(diag P A Pᵀ))
};

template <class Tensor>
struct vo_result {
    Tensor v;                         ///< [G·r, h]   P_g W_v^g stacked over the groups
    Tensor o;                         ///< [m, H·r]   W_o′
    std::vector<double> v_bias;       ///< [G·r]      P_g b_g (empty without a bias)
    std::vector<double> projection;   ///< [G, r, d]  P_g (host, row-major)
    std::size_t value_dim = 0;        ///< r
    double output_error = std::numeric_limits<double>::quiet_NaN();  ///< Σ_t ‖W_o′ P a_t − W_o a_t‖²
    double total_energy = std::numeric_limits<double>::quiet_NaN();  ///< Σ_t ‖W_o a_t‖² = tr(W_o A W_oᵀ)
    double ridge = 0;                 ///< absolute λ of the o refit
    lowrank::status status = lowrank::status::ok;
};

/// Reduces the value dimension to r (see the header comment). wv [G·d, h], wo [m, H·d] (same
/// element type), o_gram = A [H·d, H·d], v_bias [G·d] or empty. Throws shape_error on mismatched
/// shapes, rank_error for r = 0 or r > d, invalid_argument for bad heads/options. NaN/Inf →
/// status::nonfinite_input; a Gram or P A Pᵀ that stays indefinite after ridge escalation →
/// status::no_convergence (outputs empty unless status is ok).
template <backend_context Ctx, class Tensor>
vo_result<Tensor> vo_reduce(Ctx& ctx, const Tensor& wv, const Tensor& wo, std::span<const double> o_gram,
                            const attention_heads& hd, std::size_t r, std::span<const double> v_bias = {},
                            const vo_options& opt = {}) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    namespace dc = detail::compress;
    namespace ds = detail::structured;
    hd.validate("vo_reduce");
    if (!(opt.ridge >= 0) || !std::isfinite(opt.ridge)) throw invalid_argument("vo_options: ridge out of range");
    detail::require_matrix<Ctx>(wv, "vo_reduce (v_proj)");
    detail::require_matrix<Ctx>(wo, "vo_reduce (o_proj)");
    const std::size_t H = hd.heads, G = hd.kv_heads, d = hd.head_dim, per = H / G;
    const shape_t vs = B::shape(wv), os = B::shape(wo);
    const std::size_t h = vs[1], m = os[0], n = H * d, nr = H * r;
    if (vs[0] != G * d) throw shape_error("vo_reduce: v_proj of shape " + to_string(vs) + " is not [kv_heads·head_dim, ·]");
    if (os[1] != n) throw shape_error("vo_reduce: o_proj of shape " + to_string(os) + " is not [·, heads·head_dim]");
    if (!v_bias.empty() && v_bias.size() != G * d) throw shape_error("vo_reduce: v bias has the wrong length");
    dc::require_square(o_gram, n, "vo_reduce (o-input Gram)");
    if (r == 0 || r > d)
        throw rank_error("vo_reduce: value dimension " + std::to_string(r) + " outside [1, " + std::to_string(d) + "]");

    vo_result<Tensor> res;
    res.value_dim = r;
    if (!B::all_finite(ctx, G * d * h, B::data(wv)) || !B::all_finite(ctx, m * n, B::data(wo)) ||
        !dc::all_finite(o_gram) || !dc::all_finite(v_bias)) {
        res.status = status::nonfinite_input;
        return res;
    }
    const auto wod = dc::convert<double>(ctx, wo);
    const auto wvd = dc::convert<double>(ctx, wv);

    // P_g for every group.
    res.projection.assign(G * r * d, 0.0);
    for (std::size_t g = 0; g < G; ++g) {
        std::vector<double> ag(d * d, 0.0);
        for (std::size_t hh = g * per; hh < (g + 1) * per; ++hh)
            for (std::size_t i = 0; i < d; ++i)
                for (std::size_t j = 0; j < d; ++j) ag[i * d + j] += o_gram[(hh * d + i) * n + hh * d + j] / double(per);
        double mu = 0;
        for (std::size_t i = 0; i < d; ++i) mu += ag[i * d + i];
        mu = std::max(mu / double(d), std::numeric_limits<double>::min());
        double lam = 0;
        auto l = ds::spd_cholesky(ctx, ag, d, 0.0, mu, lam);
        if (!l) {
            res.status = status::no_convergence;
            return res;
        }
        // K = Σ_h W_o^hᵀ W_o^h; M = Lᵀ K L.
        auto k = B::template zeros<double>(ctx, {d, d});
        for (std::size_t hh = g * per; hh < (g + 1) * per; ++hh)
            B::gemm(ctx, op::trans, op::none, d, d, m, 1.0, B::data(wod) + hh * d, n, B::data(wod) + hh * d, n, 1.0,
                    B::data(k), d);
        auto kl = B::template empty<double>(ctx, {d, d});
        B::gemm(ctx, op::none, op::none, d, d, d, 1.0, B::data(k), d, B::data(*l), d, 0.0, B::data(kl), d);
        auto mm = B::template empty<double>(ctx, {d, d});
        B::gemm(ctx, op::trans, op::none, d, d, d, 1.0, B::data(*l), d, B::data(kl), d, 0.0, B::data(mm), d);
        auto mh = dc::to_host(ctx, mm);
        for (std::size_t i = 0; i < d; ++i)
            for (std::size_t j = 0; j < i; ++j) mh[i * d + j] = mh[j * d + i] = 0.5 * (mh[i * d + j] + mh[j * d + i]);
        auto e = B::template upload<double>(ctx, mh.data(), {d, d});
        std::vector<double> lam_e(d);
        if (B::syevd(ctx, d, B::data(e), lam_e.data()) > 0) {
            res.status = status::no_convergence;
            return res;
        }
        // Top-r eigenvectors (rows d−1, d−2, … of e) as the rows of Vr [r, d]; P_g = Vr L⁻¹.
        auto pg = B::template empty<double>(ctx, {r, d});
        for (std::size_t i = 0; i < r; ++i) B::copy(ctx, d, B::data(e) + (d - 1 - i) * d, B::data(pg) + i * d);
        B::trsm(ctx, side::right, op::none, r, d, 1.0, B::data(*l), d, B::data(pg), d);
        B::download(ctx, pg, res.projection.data() + g * r * d);
    }

    // v′ = P_g W_v^g per group (and the bias).
    auto pall = B::template upload<double>(ctx, res.projection.data(), {G * r, d});
    auto vnew = B::template empty<double>(ctx, {G * r, h});
    for (std::size_t g = 0; g < G; ++g)
        B::gemm(ctx, op::none, op::none, r, h, d, 1.0, B::data(pall) + g * r * d, d, B::data(wvd) + g * d * h, h, 0.0,
                B::data(vnew) + g * r * h, h);
    if (!v_bias.empty()) {
        res.v_bias.assign(G * r, 0.0);
        for (std::size_t g = 0; g < G; ++g)
            for (std::size_t i = 0; i < r; ++i)
                for (std::size_t j = 0; j < d; ++j)
                    res.v_bias[g * r + i] += res.projection[(g * r + i) * d + j] * v_bias[g * d + j];
    }

    // P = blockdiag(P_g(h)) [H·r, H·d]; A Pᵀ, P A Pᵀ, Cy = W_o A Pᵀ.
    std::vector<double> ph(nr * n, 0.0);
    for (std::size_t hh = 0; hh < H; ++hh) {
        const std::size_t g = hh / per;
        for (std::size_t i = 0; i < r; ++i)
            for (std::size_t j = 0; j < d; ++j) ph[(hh * r + i) * n + hh * d + j] = res.projection[(g * r + i) * d + j];
    }
    auto p = B::template upload<double>(ctx, ph.data(), {nr, n});
    auto a = B::template upload<double>(ctx, o_gram.data(), {n, n});
    auto apt = B::template empty<double>(ctx, {n, nr});
    B::gemm(ctx, op::none, op::trans, n, nr, n, 1.0, B::data(a), n, B::data(p), n, 0.0, B::data(apt), nr);
    auto pap = B::template empty<double>(ctx, {nr, nr});
    B::gemm(ctx, op::none, op::none, nr, nr, n, 1.0, B::data(p), n, B::data(apt), nr, 0.0, B::data(pap), nr);
    auto cy = B::template empty<double>(ctx, {m, nr});
    B::gemm(ctx, op::none, op::none, m, nr, n, 1.0, B::data(wod), n, B::data(apt), nr, 0.0, B::data(cy), nr);
    auto paph = dc::to_host(ctx, pap);
    for (std::size_t i = 0; i < nr; ++i)
        for (std::size_t j = 0; j < i; ++j) paph[i * nr + j] = paph[j * nr + i] = 0.5 * (paph[i * nr + j] + paph[j * nr + i]);
    double mu = 0;
    for (std::size_t i = 0; i < nr; ++i) mu += paph[i * nr + i];
    mu = std::max(mu / double(nr), std::numeric_limits<double>::min());
    auto l = ds::spd_cholesky(ctx, paph, nr, opt.ridge * mu, mu, res.ridge);
    if (!l) {
        res.status = status::no_convergence;
        return res;
    }
    auto onew = B::template empty<double>(ctx, {m, nr});
    B::copy(ctx, m * nr, B::data(cy), B::data(onew));
    B::trsm(ctx, side::right, op::trans, m, nr, 1.0, B::data(*l), nr, B::data(onew), nr);
    B::trsm(ctx, side::right, op::none, m, nr, 1.0, B::data(*l), nr, B::data(onew), nr);

    // Errors: tr(W A Wᵀ) − 2 tr(W′ Cyᵀ) + tr(W′ PAPᵀ W′ᵀ).
    auto wa = B::template empty<double>(ctx, {m, n});
    B::gemm(ctx, op::none, op::none, m, n, n, 1.0, B::data(wod), n, B::data(a), n, 0.0, B::data(wa), n);
    res.total_energy = static_cast<double>(B::dot(ctx, m * n, B::data(wa), B::data(wod)));
    auto pap2 = B::template upload<double>(ctx, paph.data(), {nr, nr});
    auto op_ = B::template empty<double>(ctx, {m, nr});
    B::gemm(ctx, op::none, op::none, m, nr, nr, 1.0, B::data(onew), nr, B::data(pap2), nr, 0.0, B::data(op_), nr);
    res.output_error = res.total_energy - 2 * static_cast<double>(B::dot(ctx, m * nr, B::data(onew), B::data(cy))) +
                       static_cast<double>(B::dot(ctx, m * nr, B::data(op_), B::data(onew)));
    res.v = dc::convert<T>(ctx, vnew);
    res.o = dc::convert<T>(ctx, onew);
    return res;
}

}  // namespace lowrank
