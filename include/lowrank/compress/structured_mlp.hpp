// Structured MLP compression: prune intermediate channels of a gated MLP
//     y = W_down z,   z = silu(W_gate x) ⊙ (W_up x)      (W_down [m, n], n intermediate channels)
// and refit W_down on the channels kept. The model stays dense with a smaller intermediate size
// k: W_gate and W_up lose the pruned rows, W_down becomes [m, k]. (MoDeGPT's "type-II" MLP
// reduction; here with an output-aware OBS selection instead of ridge leverage scores.)
//
// Notation as in compress/stats.hpp: Z = [z_1 … z_N] ∈ R^{n×N} are the intermediate activations
// (the input of down_proj) over N calibration tokens, C = Z Zᵀ their Gram [n, n]. The target is
// the dense output Y = W Z (or, two-stream, Y = W Z̄ with the cross-Gram C_× = Z̄ Zᵀ; then
// Y Zᵀ = W C_×); write Cy = Y Zᵀ = W C (resp. W C_×) [m, n].
//
// Refit (mlp_refit). For a kept set S (|S| = k) choose W′ [m, k] minimising the ridge objective
//     f_S(W′) = ‖W′ Z_S − Y‖²_F + λ ‖W′‖²_F,   λ = ridge · mean(diag C)
// whose minimiser is the least-squares solution
//     W′ = Cy[:, S] (C_SS + λ I)⁻¹
// (Cholesky of C_SS + λI, two triangular solves). λ only conditions the solve; with ridge = 0
// and C_SS positive definite this is exactly numpy.linalg.lstsq(Z_Sᵀ, Yᵀ)ᵀ. Keeping every
// channel with ridge = 0 returns W (single-stream) up to rounding. The reported output error
// ‖W′ Z_S − Y‖²_F = tr(Y Yᵀ) − 2 tr(W′ Cy_Sᵀ) + tr(W′ C_SS W′ᵀ) needs only C (tr(Y Yᵀ) = tr(W C Wᵀ)
// single-stream; two-stream it needs the dense Gram and is not reported).
//
// Selection (obs_channel_order): backward elimination by the optimal-brain-surgeon update, which
// is exact for least squares. On the alive set S let Hinv = (C_SS + λI)⁻¹ and W* = Cy_S Hinv (the
// refit weights). Removing a set J ⊂ S and refitting raises min f by
//     ΔJ = tr(W*_J (Hinv_JJ)⁻¹ W*_Jᵀ)      (single channel j: ‖W*[:, j]‖² / Hinv_jj)
// and the new optimum and inverse follow by the block Schur update
//     W* ← W* − W*_J Hinv_JJ⁻¹ Hinv_J:,     Hinv ← Hinv − Hinv_:J Hinv_JJ⁻¹ Hinv_J:
// (which zeroes the rows/columns J exactly, so nothing is compacted). Each step removes the
// `block` channels with the smallest single scores ‖W*[:, j]‖² / Hinv_jj; block = 1 is the exact
// greedy path. The result is the full removal order and the cumulative loss after each removal:
// loss_at(k) = min f over the kept set kept(k) minus min f with all channels — exactly the extra
// output error mlp_refit reports for that set (ridge included). Within a block the block's exact
// increase is attributed in proportion to the single scores, so loss_at is exact at block
// boundaries and interpolated inside a block. Kept sets are nested, so loss_at(k) is
// non-increasing in k.
//
// magnitude_channel_order is the output-blind baseline: channels ordered by ‖W[:, j]‖²·C_jj (the
// output energy a channel carries alone), no refit in the ordering.
//
// Cost: O(n³) for the inverse plus O((m + n)·n²) over the elimination; one host download of W*
// (m·n) per block step for the scores. Everything in float64; outputs have W's element type.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/compress/detail/structured_linalg.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/linalg/tensor_ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

struct channel_selection_options {
    double ridge = 1e-6;     ///< ≥ 0: λ = ridge · mean(diag C) (selection and refit alike)
    std::size_t block = 16;  ///< ≥ 1: channels removed per OBS step (1 = exact greedy)
    /// obs_channel_order stops eliminating once this many channels are left (0: the full order).
    /// The survivors end `removal` in index order with NaN loss; kept(k) for k = stop_at is the
    /// same set the full order gives (the step that crosses stop_at is cut short, and a step
    /// removes its channels in ascending score order), at (n − stop_at)/n of the steps.
    std::size_t stop_at = 0;

    void validate() const {
        if (!(ridge >= 0) || !std::isfinite(ridge))
            throw invalid_argument("channel_selection_options: ridge out of range: " + std::to_string(ridge));
        if (block == 0) throw invalid_argument("channel_selection_options: block must be ≥ 1");
    }
};

/// An ordering of n channels from least to most important.
struct channel_order {
    std::vector<std::size_t> removal;  ///< all n channels, the first removed first
    std::vector<double> loss;          ///< loss[i]: objective increase once removal[0..i] are gone (OBS; empty for magnitude)
    double ridge = 0;                  ///< absolute λ used
    lowrank::status status = lowrank::status::ok;

    std::size_t size() const { return removal.size(); }

    /// The k channels kept (the last k removed), ascending. Throws rank_error for k > n.
    std::vector<std::size_t> kept(std::size_t k) const {
        if (k > removal.size())
            throw rank_error("channel_order: cannot keep " + std::to_string(k) + " of " + std::to_string(removal.size()) +
                             " channels");
        std::vector<std::size_t> s(removal.end() - static_cast<std::ptrdiff_t>(k), removal.end());
        std::sort(s.begin(), s.end());
        return s;
    }

    /// Predicted extra output error with k channels kept (0 for k = n); NaN without a loss path.
    double loss_at(std::size_t k) const {
        if (k > removal.size()) throw rank_error("channel_order: k exceeds the channel count");
        if (loss.size() != removal.size()) return std::numeric_limits<double>::quiet_NaN();
        return k == removal.size() ? 0.0 : loss[removal.size() - k - 1];
    }
};

namespace detail::structured {

/// Cy = W · G (G = C or the cross-Gram), float64 on the backend. w [m, n].
template <backend_context Ctx, class Tensor>
tensor_t<backend_of<Ctx>, double> target_cross(Ctx& ctx, const Tensor& w, std::span<const double> g) {
    using B = backend_of<Ctx>;
    const shape_t s = B::shape(w);
    const std::size_t m = s[0], n = s[1];
    const auto wd = detail::compress::convert<double>(ctx, w);
    auto gd = B::template upload<double>(ctx, g.data(), {n, n});
    auto cy = B::template empty<double>(ctx, {m, n});
    B::gemm(ctx, op::none, op::none, m, n, n, 1.0, B::data(wd), n, B::data(gd), n, 0.0, B::data(cy), n);
    return cy;
}

template <backend_context Ctx, class Tensor>
void check_down(Ctx&, const Tensor& w, std::span<const double> gram, std::span<const double> cross, const char* what) {
    using B = backend_of<Ctx>;
    detail::require_matrix<Ctx>(w, what);
    const std::size_t n = B::shape(w)[1];
    detail::compress::require_square(gram, n, what);
    if (!cross.empty()) detail::compress::require_square(cross, n, what);
}

inline double mean_diag(std::span<const double> g, std::size_t n) {
    double t = 0;
    for (std::size_t i = 0; i < n; ++i) t += g[i * n + i];
    return t / static_cast<double>(n);
}

}  // namespace detail::structured

/// OBS backward elimination of the input channels of `down` [m, n] (see the header comment).
/// gram = C [n, n]; cross = C_× [n, n] or empty (single-stream). Throws shape_error /
/// invalid_argument; NaN/Inf → status::nonfinite_input (empty order); C + λI not positive
/// definite even after escalating the ridge to 1e-2·mean(diag C) → status::no_convergence.
template <backend_context Ctx, class Tensor>
channel_order obs_channel_order(Ctx& ctx, const Tensor& down, std::span<const double> gram,
                                std::span<const double> cross = {}, const channel_selection_options& opt = {}) {
    using B = backend_of<Ctx>;
    namespace ds = detail::structured;
    opt.validate();
    ds::check_down(ctx, down, gram, cross, "obs_channel_order");
    const std::size_t m = B::shape(down)[0], n = B::shape(down)[1];
    channel_order res;
    if (!B::all_finite(ctx, m * n, B::data(down)) || !detail::compress::all_finite(gram) ||
        !detail::compress::all_finite(cross)) {
        res.status = status::nonfinite_input;
        return res;
    }
    const double mu = std::max(ds::mean_diag(gram, n), std::numeric_limits<double>::min());
    auto hinv = ds::spd_inverse(ctx, gram, n, opt.ridge * mu, mu, res.ridge);
    if (!hinv) {
        res.status = status::no_convergence;
        return res;
    }
    auto wst = ds::target_cross(ctx, down, cross.empty() ? gram : cross);  // Cy, then W* = Cy Hinv
    {
        auto tmp = B::template empty<double>(ctx, {m, n});
        B::gemm(ctx, op::none, op::none, m, n, n, 1.0, B::data(wst), n, B::data(*hinv), n, 0.0, B::data(tmp), n);
        wst = std::move(tmp);
    }
    std::vector<char> alive(n, 1);
    std::size_t left = n;
    double total = 0;
    std::vector<double> wh(m * n), diag(n);
    auto zeros = B::template zeros<double>(ctx, {std::max(m, n)});
    while (left > opt.stop_at) {
        B::download(ctx, wst, wh.data());
        auto dg = B::template empty<double>(ctx, {n});
        B::copy_2d(ctx, n, 1, B::data(*hinv), n + 1, B::data(dg), 1);
        B::download(ctx, dg, diag.data());
        std::vector<std::pair<double, std::size_t>> sc;
        sc.reserve(left);
        for (std::size_t j = 0; j < n; ++j) {
            if (!alive[j]) continue;
            double e = 0;
            for (std::size_t i = 0; i < m; ++i) e += wh[i * n + j] * wh[i * n + j];
            sc.emplace_back(diag[j] > 0 ? e / diag[j] : std::numeric_limits<double>::infinity(), j);
        }
        const std::size_t b = std::min(opt.block, left - opt.stop_at);
        std::partial_sort(sc.begin(), sc.begin() + static_cast<std::ptrdiff_t>(b), sc.end());
        std::vector<std::size_t> J(b);
        for (std::size_t i = 0; i < b; ++i) J[i] = sc[i].second;
        // HJ = Hinv[J, :] (b × n), WJ = W*[:, J] (m × b), HJJ = Hinv[J, J].
        auto hj = B::template empty<double>(ctx, {b, n});
        for (std::size_t i = 0; i < b; ++i) B::copy(ctx, n, B::data(*hinv) + J[i] * n, B::data(hj) + i * n);
        std::vector<double> hjh(b * n), hjj(b * b), wj(m * b), hjj_inv;
        B::download(ctx, hj, hjh.data());
        for (std::size_t i = 0; i < b; ++i)
            for (std::size_t k = 0; k < b; ++k) hjj[i * b + k] = hjh[i * n + J[k]];
        for (std::size_t r = 0; r < m; ++r)
            for (std::size_t k = 0; k < b; ++k) wj[r * b + k] = wh[r * n + J[k]];
        if (!ds::host_spd_inverse(hjj, b, hjj_inv)) {
            res.status = status::no_convergence;
            return res;
        }
        // The block's exact increase tr(WJ HJJ⁻¹ WJᵀ).
        double inc_total = 0;
        for (std::size_t r = 0; r < m; ++r)
            for (std::size_t p = 0; p < b; ++p) {
                double acc = 0;
                for (std::size_t q = 0; q < b; ++q) acc += hjj_inv[p * b + q] * wj[r * b + q];
                inc_total += wj[r * b + p] * acc;
            }
        if (b < left) {
            // G = HJJ⁻¹ HJ (b × n); W* −= WJ G; Hinv −= HJᵀ G.
            auto hi = B::template upload<double>(ctx, hjj_inv.data(), {b, b});
            auto g = B::template empty<double>(ctx, {b, n});
            B::gemm(ctx, op::none, op::none, b, n, b, 1.0, B::data(hi), b, B::data(hj), n, 0.0, B::data(g), n);
            auto wjd = B::template upload<double>(ctx, wj.data(), {m, b});
            B::gemm(ctx, op::none, op::none, m, n, b, -1.0, B::data(wjd), b, B::data(g), n, 1.0, B::data(wst), n);
            B::gemm(ctx, op::trans, op::none, n, n, b, -1.0, B::data(hj), n, B::data(g), n, 1.0, B::data(*hinv), n);
            // Exact zeros on the removed rows/columns (they are zero up to rounding).
            for (std::size_t j : J) {
                B::copy_2d(ctx, m, 1, B::data(zeros), 1, B::data(wst) + j, n);
                B::copy(ctx, n, B::data(zeros), B::data(*hinv) + j * n);
                B::copy_2d(ctx, n, 1, B::data(zeros), 1, B::data(*hinv) + j, n);
            }
        }
        double single = 0;
        for (std::size_t i = 0; i < b; ++i) single += std::isfinite(sc[i].first) ? sc[i].first : 0.0;
        for (std::size_t i = 0; i < b; ++i) {
            const double share = b == 1 ? inc_total
                                 : single > 0 ? inc_total * (std::isfinite(sc[i].first) ? sc[i].first : 0.0) / single
                                              : inc_total / static_cast<double>(b);
            total += share;
            res.removal.push_back(J[i]);
            res.loss.push_back(total);
            alive[J[i]] = 0;
        }
        left -= b;
    }
    for (std::size_t j = 0; j < n; ++j)  // stop_at > 0: the survivors, loss not computed
        if (alive[j]) {
            res.removal.push_back(j);
            res.loss.push_back(std::numeric_limits<double>::quiet_NaN());
        }
    return res;
}

/// The output-blind baseline: channels by ascending ‖W[:, j]‖²·C_jj (no loss path).
template <backend_context Ctx, class Tensor>
channel_order magnitude_channel_order(Ctx& ctx, const Tensor& down, std::span<const double> gram) {
    using B = backend_of<Ctx>;
    detail::structured::check_down(ctx, down, gram, {}, "magnitude_channel_order");
    const std::size_t m = B::shape(down)[0], n = B::shape(down)[1];
    const auto w = detail::compress::to_host(ctx, down);
    std::vector<std::pair<double, std::size_t>> sc(n);
    for (std::size_t j = 0; j < n; ++j) {
        double e = 0;
        for (std::size_t i = 0; i < m; ++i) e += double(w[i * n + j]) * double(w[i * n + j]);
        sc[j] = {e * gram[j * n + j], j};
    }
    std::stable_sort(sc.begin(), sc.end());
    channel_order res;
    for (const auto& [s, j] : sc) res.removal.push_back(j);
    return res;
}

template <class Tensor>
struct mlp_refit_result {
    Tensor down;                      ///< [m, k] W′ (columns in the order of `kept`)
    std::vector<std::size_t> kept;    ///< ascending
    double output_error = std::numeric_limits<double>::quiet_NaN();  ///< ‖W′ Z_S − W Z‖²_F (single-stream)
    double total_energy = std::numeric_limits<double>::quiet_NaN();  ///< ‖W Z‖²_F = tr(W C Wᵀ) (single-stream)
    double ridge = 0;                 ///< absolute λ
    lowrank::status status = lowrank::status::ok;
};

/// Least-squares refit of `down` [m, n] on the channels `kept` (see the header comment; λ as in
/// channel_selection_options: ridge · mean(diag C) of the full C). Throws shape_error, and
/// rank_error for an empty, unsorted/duplicated or out-of-range `kept`. NaN/Inf →
/// nonfinite_input; C_SS + λI not positive definite after escalation → no_convergence.
template <backend_context Ctx, class Tensor>
mlp_refit_result<Tensor> mlp_refit(Ctx& ctx, const Tensor& down, std::span<const double> gram,
                                   const std::vector<std::size_t>& kept, std::span<const double> cross = {},
                                   const channel_selection_options& opt = {}) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    namespace ds = detail::structured;
    opt.validate();
    ds::check_down(ctx, down, gram, cross, "mlp_refit");
    const std::size_t m = B::shape(down)[0], n = B::shape(down)[1], k = kept.size();
    if (k == 0) throw rank_error("mlp_refit: no channel kept");
    for (std::size_t i = 0; i < k; ++i)
        if (kept[i] >= n || (i > 0 && kept[i] <= kept[i - 1]))
            throw rank_error("mlp_refit: kept channels must be ascending, distinct and < " + std::to_string(n));
    mlp_refit_result<Tensor> res;
    res.kept = kept;
    if (!B::all_finite(ctx, m * n, B::data(down)) || !detail::compress::all_finite(gram) ||
        !detail::compress::all_finite(cross)) {
        res.status = status::nonfinite_input;
        return res;
    }
    const auto cy = ds::target_cross(ctx, down, cross.empty() ? gram : cross);
    const auto cyh = detail::compress::to_host(ctx, cy);
    std::vector<double> css(k * k), cys(m * k);
    for (std::size_t i = 0; i < k; ++i)
        for (std::size_t j = 0; j < k; ++j) css[i * k + j] = gram[kept[i] * n + kept[j]];
    for (std::size_t r = 0; r < m; ++r)
        for (std::size_t j = 0; j < k; ++j) cys[r * k + j] = cyh[r * n + kept[j]];
    const double mu = std::max(ds::mean_diag(gram, n), std::numeric_limits<double>::min());
    auto l = ds::spd_cholesky(ctx, css, k, opt.ridge * mu, mu, res.ridge);
    if (!l) {
        res.status = status::no_convergence;
        return res;
    }
    auto a = B::template upload<double>(ctx, cys.data(), {m, k});
    B::trsm(ctx, side::right, op::trans, m, k, 1.0, B::data(*l), k, B::data(a), k);  // Cy_S L⁻ᵀ
    B::trsm(ctx, side::right, op::none, m, k, 1.0, B::data(*l), k, B::data(a), k);   // · L⁻¹
    if (cross.empty()) {
        // ‖W′Z_S − WZ‖² = tr(W C Wᵀ) − 2 tr(W′ Cy_Sᵀ) + tr(W′ C_SS W′ᵀ).
        const auto wd = detail::compress::convert<double>(ctx, down);
        const double wcw = static_cast<double>(B::dot(ctx, m * n, B::data(wd), B::data(cy)));
        auto cs = B::template upload<double>(ctx, css.data(), {k, k});
        auto ac = B::template empty<double>(ctx, {m, k});
        B::gemm(ctx, op::none, op::none, m, k, k, 1.0, B::data(a), k, B::data(cs), k, 0.0, B::data(ac), k);
        auto cysd = B::template upload<double>(ctx, cys.data(), {m, k});
        res.total_energy = wcw;
        res.output_error = wcw - 2 * static_cast<double>(B::dot(ctx, m * k, B::data(a), B::data(cysd))) +
                           static_cast<double>(B::dot(ctx, m * k, B::data(ac), B::data(a)));
    }
    res.down = detail::compress::convert<T>(ctx, a);
    return res;
}

/// Rows `kept` of w [n, c] (gate/up losing their pruned channels) → [k, c].
template <backend_context Ctx, class Tensor>
Tensor select_rows(Ctx& ctx, const Tensor& w, const std::vector<std::size_t>& kept) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    detail::require_matrix<Ctx>(w, "select_rows");
    const std::size_t n = B::shape(w)[0], c = B::shape(w)[1];
    for (std::size_t j : kept)
        if (j >= n) throw rank_error("select_rows: row " + std::to_string(j) + " of a matrix with " + std::to_string(n) + " rows");
    auto out = B::template empty<T>(ctx, {kept.size(), c});
    for (std::size_t i = 0; i < kept.size(); ++i) B::copy(ctx, c, B::data(w) + kept[i] * c, B::data(out) + i * c);
    return out;
}

}  // namespace lowrank
