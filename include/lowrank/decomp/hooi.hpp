// HOOI — higher-order orthogonal iteration (De Lathauwer, De Moor & Vandewalle 2000b).
//
// For fixed ranks, HOOI maximises ‖G‖_F = ‖X ×_0 U_0ᵀ ⋯ ×_{N-1} U_{N-1}ᵀ‖_F by alternating:
// for each mode n, U_n ← leading R_n left singular vectors of (X ×_{m≠n} U_mᵀ)_(n). Each update
// cannot decrease ‖G‖, so the error ‖X − X̂‖²_F = ‖X‖²_F − ‖G‖²_F is non-increasing.
//
// Initialisation: ST-HOSVD with the given truncation (its ranks are then fixed), or factors
// supplied by the caller. Stopping: after each sweep the relative error e_k = sqrt(‖X‖² −
// ‖G‖²)/‖X‖ is recorded; HOOI stops when |e_{k-1} − e_k| < tol (converged, stop_reason::
// tolerance) or after max_iterations sweeps (converged = false, status::not_converged).
// error_history[0] is the error of the initialisation.
//
// Mode order: each sweep updates the modes in `mode_order` (default 0, 1, …, N-1), and the
// ST-HOSVD start truncates them in the same order. Reordering the modes of the tensor together
// with `mode_order` gives the same iterates in exact arithmetic (the Python bindings rely on this
// to decompose a Fortran-ordered array as its C-ordered axis reversal without copying it).
#pragma once

#include "lowrank/decomp/hosvd.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

namespace lowrank {

template <class Tensor>
struct hooi_options {
    truncation trunc{};                          ///< ranks (and/or error target) for the ST-HOSVD start
    std::size_t max_iterations = 25;
    double tol = 1e-8;                           ///< on the change of the relative error between sweeps
    mode_solver solver = mode_solver::gram_eig;
    std::optional<std::vector<Tensor>> initial_factors;  ///< I_n × R_n each; replaces the ST-HOSVD start
    std::vector<std::size_t> mode_order;         ///< sweep (and ST-HOSVD start) order; empty: 0, 1, …, N-1
    bool compute_error = true;                   ///< rel_error from the explicit residual
};

template <backend_context Ctx, class Tensor>
tucker_result<Tensor> hooi(Ctx& ctx, const Tensor& x, const hooi_options<Tensor>& opt = {}) {
    using B = backend_of<Ctx>;
    if (!(opt.tol >= 0)) throw invalid_argument("hooi: tolerance must be >= 0");
    const shape_t xs = B::shape(x);
    const std::size_t N = xs.size();

    std::vector<std::size_t> order = opt.mode_order;
    if (order.empty()) {
        order.resize(N);
        std::iota(order.begin(), order.end(), 0);
    }
    detail::check_mode_order(order, N, "hooi");

    tucker_result<Tensor> res;
    if (opt.initial_factors) {
        if (!detail::begin_tucker(ctx, x, truncation{}, res, "hooi")) return res;
        if (opt.initial_factors->size() != N)
            throw shape_error("hooi: " + std::to_string(opt.initial_factors->size()) +
                              " initial factors for a tensor of order " + std::to_string(N));
        for (std::size_t n = 0; n < N; ++n) {
            const shape_t us = B::shape((*opt.initial_factors)[n]);
            if (us.size() != 2 || us[0] != xs[n] || us[1] == 0 || us[1] > xs[n])
                throw shape_error("hooi: initial factor " + std::to_string(n) + " has shape " + to_string(us) +
                                  ", expected (" + std::to_string(xs[n]) + ", R) with 1 <= R <= " + std::to_string(xs[n]));
        }
        res.factors = *opt.initial_factors;
        res.spectra.resize(N);
    } else {
        hosvd_options init;
        init.trunc = opt.trunc;
        init.solver = opt.solver;
        init.mode_order = order;
        init.compute_error = false;
        res = st_hosvd(ctx, x, init);
        res.method = "hooi";
        if (res.status == status::nonfinite_input) return res;
    }
    res.ranks.clear();
    for (const auto& u : res.factors) res.ranks.push_back(B::shape(u)[1]);

    const double norm2 = res.norm * res.norm;
    auto error_of = [&](const Tensor& core) {
        const double g = static_cast<double>(frobenius_norm(ctx, core));
        return res.norm > 0 ? std::sqrt(std::max(0.0, norm2 - g * g)) / res.norm : 0.0;
    };
    auto project_all_but = [&](std::size_t skip) {
        std::vector<const Tensor*> f(N, nullptr);
        for (std::size_t m = 0; m < N; ++m)
            if (m != skip) f[m] = &res.factors[m];
        return multi_mode_product(ctx, x, f, op::trans);
    };
    {
        std::vector<const Tensor*> f;
        for (const auto& u : res.factors) f.push_back(&u);
        res.core = multi_mode_product(ctx, x, f, op::trans);
    }
    res.error_history.assign(1, error_of(res.core));
    res.iterations = 0;
    res.converged = false;
    res.stop = stop_reason::max_iterations;
    int info = 0;
    for (std::size_t it = 0; it < opt.max_iterations; ++it) {
        for (std::size_t i = 0; i < N; ++i) {
            const std::size_t n = order[i];
            Tensor y = project_all_but(n);
            auto ms = detail::compute_mode_subspace(ctx, y, n, opt.solver);
            info = std::max(info, ms.info);
            res.factors[n] = ms.leading(ctx, res.ranks[n]);
            res.spectra[n] = std::move(ms.sigma);
            if (i + 1 == N) res.core = mode_product(ctx, y, res.factors[n], n, op::trans);
        }
        res.iterations = it + 1;
        const double e = error_of(res.core);
        const double change = std::abs(res.error_history.back() - e);
        res.error_history.push_back(e);
        if (change < opt.tol) {
            res.converged = true;
            res.stop = stop_reason::tolerance;
            break;
        }
    }
    if (opt.max_iterations == 0) {
        res.converged = true;  // nothing asked for: the initialisation is the answer
        res.stop = stop_reason::tolerance;
    }
    res.discarded_energy = norm2 * res.error_history.back() * res.error_history.back();
    res.error_bound = res.error_history.back();
    res.status = info > 0 ? status::no_convergence : (res.converged ? status::ok : status::not_converged);
    detail::finish_tucker(ctx, x, res, opt.compute_error);
    return res;
}

}  // namespace lowrank
