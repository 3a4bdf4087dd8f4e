// HOSVD and ST-HOSVD (truncated higher-order SVD).
//
// HOSVD (De Lathauwer et al. 2000): every factor U_n is the leading left singular subspace of
// the unfolding X_(n) of the *original* tensor; G = X ×_n U_nᵀ (all n). Error:
//   ‖X − X̂‖²_F ≤ Σ_n Σ_{i>R_n} σ_i(X_(n))².
// ST-HOSVD (Vannieuwenhoven, Vandebril & Meerbergen 2012): modes are truncated one after
// another and each subsequent factor is computed from the already-projected core, which is
// cheaper; then the error is exactly the sum of the per-mode discarded energies:
//   ‖X − X̂‖²_F = Σ_k Σ_{i>R_{p_k}} σ_i(Y^{(k)}_{(p_k)})²  (p = mode order, Y^{(k)} = partial core).
// With a relative error target ε each mode's budget is ε²‖X‖²_F / N, so ‖X − X̂‖_F ≤ ε‖X‖_F.
#pragma once

#include "lowrank/decomp/tucker.hpp"

#include <numeric>
#include <string>
#include <vector>

namespace lowrank {

struct hosvd_options {
    truncation trunc{};                       ///< ranks per mode and/or relative error target
    mode_solver solver = mode_solver::gram_eig;
    std::vector<std::size_t> mode_order;      ///< ST-HOSVD processing order (empty: 0, 1, …, N-1)
    bool compute_error = true;                ///< rel_error from the explicit residual
};

namespace detail {

/// Throws invalid_argument unless `order` lists each of the N modes exactly once.
inline void check_mode_order(const std::vector<std::size_t>& order, std::size_t N, const char* what) {
    std::vector<bool> seen(N, false);
    if (order.size() != N)
        throw invalid_argument(std::string(what) + ": mode order must list each of the " + std::to_string(N) + " modes once");
    for (std::size_t n : order) {
        check_mode(n, N);
        if (seen[n]) throw invalid_argument(std::string(what) + ": mode " + std::to_string(n) + " appears twice in the mode order");
        seen[n] = true;
    }
}

template <backend_context Ctx, class Tensor>
bool begin_tucker(Ctx& ctx, const Tensor& x, const truncation& trunc, tucker_result<Tensor>& res, const char* method) {
    using B = backend_of<Ctx>;
    trunc.validate();
    const shape_t xs = B::shape(x);
    if (xs.empty()) throw shape_error(std::string(method) + ": the input must have at least one mode");
    for (std::size_t n = 0; n < xs.size(); ++n) {
        if (xs[n] == 0) throw shape_error(std::string(method) + ": mode " + std::to_string(n) + " of " + to_string(xs) + " is empty");
        const auto cap = trunc.cap_for(n, xs.size());
        if (cap && *cap > xs[n])
            throw rank_error(std::string(method) + ": rank " + std::to_string(*cap) + " for mode " + std::to_string(n) +
                             " exceeds its dimension " + std::to_string(xs[n]));
    }
    res.method = method;
    if (!B::all_finite(ctx, numel(xs), B::data(x))) {
        res.status = status::nonfinite_input;
        res.stop = stop_reason::nonfinite_input;
        res.converged = false;
        return false;
    }
    res.norm = static_cast<double>(frobenius_norm(ctx, x));
    return true;
}

}  // namespace detail

/// Truncated HOSVD of x. Throws shape_error/rank_error/invalid_argument on misuse;
/// NaN/Inf input gives status::nonfinite_input.
template <backend_context Ctx, class Tensor>
tucker_result<Tensor> hosvd(Ctx& ctx, const Tensor& x, const hosvd_options& opt = {}) {
    using B = backend_of<Ctx>;
    tucker_result<Tensor> res;
    if (!detail::begin_tucker(ctx, x, opt.trunc, res, "hosvd")) return res;
    const shape_t xs = B::shape(x);
    const std::size_t N = xs.size();
    const double budget = opt.trunc.rel_error * opt.trunc.rel_error * res.norm * res.norm / static_cast<double>(N);
    int info = 0;
    for (std::size_t n = 0; n < N; ++n) {
        auto ms = detail::compute_mode_subspace(ctx, x, n, opt.solver);
        info = std::max(info, ms.info);
        const std::size_t r = choose_rank(opt.trunc, ms.sigma, xs[n], opt.trunc.cap_for(n, N), budget, "hosvd");
        res.discarded_energy += tail_energy(ms.sigma, r);
        res.factors.push_back(ms.leading(ctx, r));
        res.spectra.push_back(std::move(ms.sigma));
    }
    if (info > 0) res.status = status::no_convergence;
    std::vector<const Tensor*> f;
    for (const auto& u : res.factors) f.push_back(&u);
    res.core = multi_mode_product(ctx, x, f, op::trans);
    res.error_bound = res.norm > 0 ? std::sqrt(res.discarded_energy) / res.norm : 0.0;
    detail::finish_tucker(ctx, x, res, opt.compute_error);
    return res;
}

/// Sequentially truncated HOSVD of x (see the header comment); mode order from opt.mode_order.
template <backend_context Ctx, class Tensor>
tucker_result<Tensor> st_hosvd(Ctx& ctx, const Tensor& x, const hosvd_options& opt = {}) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    tucker_result<Tensor> res;
    if (!detail::begin_tucker(ctx, x, opt.trunc, res, "sthosvd")) return res;
    const shape_t xs = B::shape(x);
    const std::size_t N = xs.size();
    std::vector<std::size_t> order = opt.mode_order;
    if (order.empty()) {
        order.resize(N);
        std::iota(order.begin(), order.end(), 0);
    }
    detail::check_mode_order(order, N, "st_hosvd");
    const double budget = opt.trunc.rel_error * opt.trunc.rel_error * res.norm * res.norm / static_cast<double>(N);
    res.factors.resize(N);
    res.spectra.resize(N);
    Tensor y = B::template empty<T>(ctx, xs);
    B::copy(ctx, numel(xs), B::data(x), B::data(y));
    int info = 0;
    for (std::size_t n : order) {
        auto ms = detail::compute_mode_subspace(ctx, y, n, opt.solver);
        info = std::max(info, ms.info);
        const std::size_t r = choose_rank(opt.trunc, ms.sigma, xs[n], opt.trunc.cap_for(n, N), budget, "st_hosvd");
        res.discarded_energy += tail_energy(ms.sigma, r);
        res.factors[n] = ms.leading(ctx, r);
        res.spectra[n] = std::move(ms.sigma);
        y = mode_product(ctx, y, res.factors[n], n, op::trans);
    }
    if (info > 0) res.status = status::no_convergence;
    res.core = std::move(y);
    res.error_bound = res.norm > 0 ? std::sqrt(res.discarded_energy) / res.norm : 0.0;
    detail::finish_tucker(ctx, x, res, opt.compute_error);
    return res;
}

}  // namespace lowrank
