// Small dense linear-algebra helpers of the structured compressors (compress/structured_*.hpp):
// Cholesky factors and inverses of ridged symmetric positive (semi-)definite matrices, with the
// ridge escalation the rest of compress/ uses (λ₀, then λ₀ + 1e-10·μ, ×100 each retry, up to
// λ₀ + 1e-2·μ, μ = the matrix's mean diagonal); and a host Cholesky inverse for the b×b blocks
// of the OBS elimination.
#pragma once

#include "lowrank/backend/concept.hpp"

#include <cmath>
#include <optional>
#include <span>
#include <vector>

namespace lowrank::detail::structured {

/// Lower Cholesky factor L (backend, float64) of A + λI for host A [n, n] (row-major, symmetric),
/// λ = lam0 + the smallest escalation that succeeds; `ridge` receives λ. nullopt when all fail.
template <backend_context Ctx>
std::optional<tensor_t<backend_of<Ctx>, double>> spd_cholesky(Ctx& ctx, std::span<const double> a, std::size_t n,
                                                              double lam0, double mu, double& ridge) {
    using B = backend_of<Ctx>;
    double extra = 0;
    for (;;) {
        std::vector<double> reg(a.begin(), a.end());
        const double lam = lam0 + extra;
        for (std::size_t i = 0; i < n; ++i) reg[i * n + i] += lam;
        auto l = B::template upload<double>(ctx, reg.data(), {n, n});
        if (B::potrf(ctx, n, B::data(l)) == 0) {
            ridge = lam;
            return l;
        }
        const double next = extra == 0 ? 1e-10 * mu : extra * 100;
        if (next > 1e-2 * mu) return std::nullopt;
        extra = next;
    }
}

/// (A + λI)⁻¹ on the backend (float64), λ as in spd_cholesky.
template <backend_context Ctx>
std::optional<tensor_t<backend_of<Ctx>, double>> spd_inverse(Ctx& ctx, std::span<const double> a, std::size_t n,
                                                             double lam0, double mu, double& ridge) {
    using B = backend_of<Ctx>;
    auto l = spd_cholesky(ctx, a, n, lam0, mu, ridge);
    if (!l) return std::nullopt;
    std::vector<double> eye(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) eye[i * n + i] = 1;
    auto li = B::template upload<double>(ctx, eye.data(), {n, n});
    B::trsm(ctx, side::left, op::none, n, n, 1.0, B::data(*l), n, B::data(li), n);  // L⁻¹
    auto inv = B::template empty<double>(ctx, {n, n});
    B::gemm(ctx, op::trans, op::none, n, n, n, 1.0, B::data(li), n, B::data(li), n, 0.0, B::data(inv), n);  // L⁻ᵀL⁻¹
    return inv;
}

/// Host inverse of a small symmetric positive definite A [b, b] by Cholesky; false when a pivot
/// is not positive (A not positive definite to working precision).
inline bool host_spd_inverse(const std::vector<double>& a, std::size_t b, std::vector<double>& inv) {
    std::vector<double> l(b * b, 0.0);
    for (std::size_t j = 0; j < b; ++j) {
        double d = a[j * b + j];
        for (std::size_t k = 0; k < j; ++k) d -= l[j * b + k] * l[j * b + k];
        if (!(d > 0) || !std::isfinite(d)) return false;
        l[j * b + j] = std::sqrt(d);
        for (std::size_t i = j + 1; i < b; ++i) {
            double s = a[i * b + j];
            for (std::size_t k = 0; k < j; ++k) s -= l[i * b + k] * l[j * b + k];
            l[i * b + j] = s / l[j * b + j];
        }
    }
    // inv = L⁻ᵀ L⁻¹, column by column of L⁻¹.
    std::vector<double> li(b * b, 0.0);
    for (std::size_t c = 0; c < b; ++c)
        for (std::size_t i = c; i < b; ++i) {
            double s = i == c ? 1.0 : 0.0;
            for (std::size_t k = c; k < i; ++k) s -= l[i * b + k] * li[k * b + c];
            li[i * b + c] = s / l[i * b + i];
        }
    inv.assign(b * b, 0.0);
    for (std::size_t i = 0; i < b; ++i)
        for (std::size_t j = 0; j < b; ++j) {
            double s = 0;
            for (std::size_t k = std::max(i, j); k < b; ++k) s += li[k * b + i] * li[k * b + j];
            inv[i * b + j] = s;
        }
    return true;
}

}  // namespace lowrank::detail::structured
