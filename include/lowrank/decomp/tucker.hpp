// Tucker decomposition results, reconstruction, and the per-mode building blocks shared by
// HOSVD, ST-HOSVD and HOOI.
//
// A Tucker decomposition of X (I_0 × … × I_{N-1}) is a core G (R_0 × … × R_{N-1}) and
// factors U_n (I_n × R_n, orthonormal columns) with X ≈ X̂ = G ×_0 U_0 ×_1 U_1 ⋯ ×_{N-1} U_{N-1}.
// With orthonormal factors and G = X ×_n U_nᵀ (all n), ‖X − X̂‖²_F = ‖X‖²_F − ‖G‖²_F.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/linalg/tensor_ops.hpp"
#include "lowrank/linalg/truncation.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace lowrank {

/// Why an iterative decomposition stopped.
enum class stop_reason {
    not_iterative,   ///< HOSVD / ST-HOSVD: a single pass
    tolerance,       ///< the change of the relative error fell below the tolerance
    max_iterations,  ///< the iteration limit was reached first
    nonfinite_input, ///< nothing was computed
};

inline const char* to_string(stop_reason r) {
    switch (r) {
        case stop_reason::not_iterative: return "not_iterative";
        case stop_reason::tolerance: return "tolerance";
        case stop_reason::max_iterations: return "max_iterations";
        case stop_reason::nonfinite_input: return "nonfinite_input";
    }
    return "unknown";
}

/// How the leading subspace of each mode is found.
enum class mode_solver {
    gram_eig,  ///< eigenvectors of the Gram matrix X_(n) X_(n)ᵀ, accumulated without unfolding (fast)
    svd,       ///< left singular vectors of the materialised unfolding (accurate for tiny σ)
};

template <class Tensor>
struct tucker_result {
    using value_type = typename Tensor::value_type;
    Tensor core;                                      ///< R_0 × … × R_{N-1}
    std::vector<Tensor> factors;                      ///< factor n: I_n × R_n, orthonormal columns
    shape_t ranks;                                    ///< R_0 … R_{N-1}
    std::vector<std::vector<value_type>> spectra;     ///< per mode: singular values of the unfolding seen by the method
    double norm = 0;                                  ///< ‖X‖_F
    double discarded_energy = 0;                      ///< Σ_n of the energy discarded in mode n
    double error_bound = 0;                           ///< sqrt(discarded_energy) / ‖X‖_F (ST-HOSVD: exact; HOSVD: upper bound)
    double rel_error = std::numeric_limits<double>::quiet_NaN();  ///< ‖X − X̂‖_F / ‖X‖_F from the explicit residual
    std::vector<double> error_history;                ///< HOOI: relative error, [0] = initialisation, then after each sweep
    std::size_t iterations = 0;                       ///< HOOI sweeps performed
    bool converged = true;                            ///< HOOI: stopped on the tolerance
    lowrank::stop_reason stop = lowrank::stop_reason::not_iterative;
    lowrank::status status = lowrank::status::ok;
    std::string method;                               ///< "hosvd", "sthosvd", "hooi"
};

/// X̂ = G ×_0 U_0 ⋯ ×_{N-1} U_{N-1}.
template <backend_context Ctx, class Tensor>
Tensor reconstruct(Ctx& ctx, const Tensor& core, const std::vector<Tensor>& factors) {
    std::vector<const Tensor*> f;
    for (const auto& u : factors) f.push_back(&u);
    return multi_mode_product(ctx, core, f, op::none);
}

template <backend_context Ctx, class Tensor>
Tensor reconstruct(Ctx& ctx, const tucker_result<Tensor>& t) {
    return reconstruct(ctx, t.core, t.factors);
}

namespace detail {

/// Leading subspace of mode n of x: singular values of X_(n) (descending) and a function that
/// returns its leading r left singular vectors as an I_n × r matrix.
template <backend_context Ctx, class Tensor>
struct mode_subspace {
    using T = typename Tensor::value_type;
    std::vector<T> sigma;  // descending
    Tensor basis;          // gram_eig: I×I eigenvectors as rows, ascending; svd: I×k left vectors as columns
    mode_solver solver = mode_solver::gram_eig;
    int info = 0;

    Tensor leading(Ctx& ctx, std::size_t r) const {
        using B = backend_of<Ctx>;
        const shape_t bs = B::shape(basis);
        const std::size_t I = bs[0];
        Tensor u = B::template empty<T>(ctx, {I, r});
        if (solver == mode_solver::svd) {
            B::copy_2d(ctx, I, r, B::data(basis), bs[1], B::data(u), r);
            return u;
        }
        Tensor rows = B::template empty<T>(ctx, {r, I});  // leading eigenvectors, descending
        for (std::size_t i = 0; i < r; ++i) B::copy(ctx, I, B::data(basis) + (I - 1 - i) * I, B::data(rows) + i * I);
        B::transpose(ctx, r, I, B::data(rows), B::data(u));
        return u;
    }
};

template <backend_context Ctx, class Tensor>
mode_subspace<Ctx, Tensor> compute_mode_subspace(Ctx& ctx, const Tensor& x, std::size_t n, mode_solver solver) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    mode_subspace<Ctx, Tensor> ms;
    ms.solver = solver;
    const std::size_t I = B::shape(x)[n];
    if (solver == mode_solver::gram_eig) {
        ms.basis = unfolding_gram(ctx, x, n);
        std::vector<T> w(I);
        ms.info = B::syevd(ctx, I, B::data(ms.basis), w.data());
        ms.sigma.resize(I);
        for (std::size_t i = 0; i < I; ++i) ms.sigma[i] = std::sqrt(std::max(w[I - 1 - i], T(0)));
    } else {
        Tensor xn = unfold(ctx, x, n);
        const std::size_t cols = B::shape(xn)[1];
        const std::size_t k = std::min(I, cols);
        Tensor u = B::template empty<T>(ctx, {I, k});
        Tensor vt = B::template empty<T>(ctx, {k, cols});
        ms.sigma.assign(k, T(0));
        ms.info = B::svd(ctx, I, cols, B::data(xn), ms.sigma.data(), B::data(u), B::data(vt), svd_driver::gesdd);
        if (k < I) {
            // Fewer columns than rows: complete U to I × I so any rank ≤ I_n is available.
            Tensor full = B::template zeros<T>(ctx, {I, I});
            B::copy_2d(ctx, I, k, B::data(u), k, B::data(full), I);
            std::vector<T> filler_host(I * (I - k));
            normal_generator gen(0x5eed);
            for (auto& v : filler_host) v = static_cast<T>(gen.normal());
            Tensor filler = B::template upload<T>(ctx, filler_host.data(), {I, I - k});
            // Project the filler off span(U), then orthonormalise the whole basis.
            Tensor coeff = B::template empty<T>(ctx, {k, I - k});
            B::gemm(ctx, op::trans, op::none, k, I - k, I, T(1), B::data(u), k, B::data(filler), I - k, T(0),
                    B::data(coeff), I - k);
            B::gemm(ctx, op::none, op::none, I, I - k, k, T(-1), B::data(u), k, B::data(coeff), I - k, T(1),
                    B::data(filler), I - k);
            B::copy_2d(ctx, I, I - k, B::data(filler), I - k, B::data(full) + k, I);
            ms.info = std::max(ms.info, B::orthonormalize_columns(ctx, I, I, B::data(full)));
            u = std::move(full);
            ms.sigma.resize(I, T(0));
        }
        ms.basis = std::move(u);
    }
    return ms;
}

template <backend_context Ctx, class Tensor>
void finish_tucker(Ctx& ctx, const Tensor& x, tucker_result<Tensor>& res, bool compute_error) {
    using B = backend_of<Ctx>;
    // Every result with factors gets its residual — also one stopped at max_iterations
    // (not_converged) or after a LAPACK failure (no_convergence): it is still a Tucker model,
    // and callers (the CLI's JSON) report its error. Only nonfinite input has no factors.
    if (compute_error && res.status != status::nonfinite_input) {
        Tensor xhat = reconstruct(ctx, res);
        const double d = static_cast<double>(frobenius_distance(ctx, x, xhat));
        res.rel_error = res.norm > 0 ? d / res.norm : 0.0;
    }
    res.ranks.clear();
    for (const auto& u : res.factors) res.ranks.push_back(B::shape(u)[1]);
}

}  // namespace detail

}  // namespace lowrank
