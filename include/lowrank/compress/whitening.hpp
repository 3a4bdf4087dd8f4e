// Whitening: from a Gram matrix H = X Xᵀ (n×n, compress/stats.hpp) a whitener S with
// S·Sᵀ = H, so that ‖M X‖²_F = tr(M H Mᵀ) = ‖M S‖²_F for every M — the identity that turns
// activation-aware compression into a plain SVD of W·S (compress/whitened_svd.hpp).
//
// Paths (all in float64 on the backend of the context):
//   cholesky  S = L, the lower Cholesky factor of H_reg (potrf). If the factorisation fails
//             (H rank-deficient or indefinite by rounding), a ridge λ·I is added and escalated
//             (λ = ridge_start·μ, then ×ridge_growth, while ≤ ridge_max·μ; μ = tr(H)/n), and
//             when even the largest ridge fails, the eigen path runs instead.
//   eigen     H_reg = U Λ Uᵀ (syevd); eigenvalues below eigen_floor·λ_max are raised to that
//             floor (negative ones included), S = U Λ^{1/2}, S⁻¹ = Λ^{-1/2} Uᵀ. Never fails
//             except for an eigensolver that does not converge (status::no_convergence).
//   diagonal  S = diag(d) (ASVD scaling, compress/asvd.hpp); S Sᵀ ≠ H in general.
//   identity  S = I: plain SVD. Used for a Gram with no energy (tr H ≤ 0, e.g. all zero): every
//             W′ then has zero output error on those inputs, and S = I keeps W′ the best
//             Frobenius approximation of W.
// with H_reg = (1 − α)·H + α·μ·I + ridge·μ·I (α = shrinkage, a Ledoit–Wolf-style pull toward
// the scaled identity; ridge = an optional relative ridge applied from the start).
//
// Exactness. The whitened-SVD identity "discarded σ² = output error" holds for the Gram the
// whitener actually factors, S Sᵀ. `defect` = ‖S Sᵀ − H‖_F / ‖H‖_F reports how far that is from
// the given H (0 for an untouched Cholesky; the shrinkage, ridge or clamped eigenvalues
// otherwise), computed in closed form: Cholesky S Sᵀ − H = −αH + (αμ + λ)I; eigen
// S Sᵀ − H = U diag(λ′_i − h_i) Uᵀ with h_i the eigenvalues of H in the same basis.
//
// Errors: a non-square Gram or bad options throw (shape_error / invalid_argument); NaN/Inf in
// H gives status::nonfinite_input (no factor). Nothing prints.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/detail/host.hpp"
#include "lowrank/compress/stats.hpp"
#include "lowrank/core/errors.hpp"

#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

enum class whitener_kind { identity, cholesky, eigen, diagonal };

inline const char* to_string(whitener_kind k) {
    switch (k) {
        case whitener_kind::identity: return "identity";
        case whitener_kind::cholesky: return "cholesky";
        case whitener_kind::eigen: return "eigen";
        case whitener_kind::diagonal: return "diagonal";
    }
    return "unknown";
}

/// Which factorisation to try first (cholesky falls back to eigen; eigen never needs to).
enum class whitening_method { cholesky, eigen };

struct whitening_options {
    whitening_method method = whitening_method::cholesky;
    double shrinkage = 0;        ///< α ∈ [0, 1): H ← (1 − α)H + α·μ·I (μ = tr(H)/n)
    double ridge = 0;            ///< ≥ 0: relative ridge added from the start (λ₀ = ridge·μ)
    double ridge_start = 1e-10;  ///< > 0: relative ridge of the first retry after a failed Cholesky
    double ridge_growth = 100;   ///< > 1: factor between retries
    double ridge_max = 1e-4;     ///< retries stop above ridge_max·μ; then the eigen path runs
    double eigen_floor = 1e-10;  ///< ∈ (0, 1): eigenvalues are clamped to ≥ eigen_floor·λ_max

    /// Throws invalid_argument for values outside the documented ranges.
    void validate() const {
        auto bad = [](const char* what, double v) {
            throw invalid_argument(std::string("whitening_options: ") + what + " out of range: " + std::to_string(v));
        };
        if (!(shrinkage >= 0 && shrinkage < 1)) bad("shrinkage (needs 0 <= α < 1)", shrinkage);
        if (!(ridge >= 0) || !std::isfinite(ridge)) bad("ridge (needs >= 0)", ridge);
        if (!(ridge_start > 0) || !std::isfinite(ridge_start)) bad("ridge_start (needs > 0)", ridge_start);
        if (!(ridge_growth > 1) || !std::isfinite(ridge_growth)) bad("ridge_growth (needs > 1)", ridge_growth);
        if (!(ridge_max >= 0) || !std::isfinite(ridge_max)) bad("ridge_max (needs >= 0)", ridge_max);
        if (!(eigen_floor > 0 && eigen_floor < 1)) bad("eigen_floor (needs 0 < f < 1)", eigen_floor);
    }
};

/// A whitener S (n×n) with the report of how it was obtained. B is the backend.
template <class B>
struct whitener {
    whitener_kind kind = whitener_kind::identity;
    std::size_t channels = 0;           ///< n
    tensor_t<B, double> factor;         ///< cholesky: L [n, n] lower; eigen: U Λ^{1/2} [n, n]; else empty
    tensor_t<B, double> inverse;        ///< eigen: Λ^{-1/2} Uᵀ [n, n]; else empty
    std::vector<double> diagonal;       ///< diagonal: d [n] with S = diag(d) (host); else empty
    double shrinkage = 0;               ///< α applied
    double ridge = 0;                   ///< absolute ridge on the diagonal (λ₀ + escalation)
    int cholesky_attempts = 0;          ///< Cholesky factorisations tried (failed ones included)
    std::size_t clamped = 0;            ///< eigen: eigenvalues raised to the floor
    double min_eigenvalue = std::numeric_limits<double>::quiet_NaN();  ///< eigen: λ_min of H_reg before clamping
    double defect = 0;                  ///< ‖S Sᵀ − H‖_F / ‖H‖_F (NaN for a diagonal whitener)
    lowrank::status status = lowrank::status::ok;
};

/// The identity whitener of n channels (plain SVD).
template <backend_context Ctx>
whitener<backend_of<Ctx>> identity_whitener(Ctx&, std::size_t n) {
    whitener<backend_of<Ctx>> s;
    s.channels = n;
    return s;
}

/// Whitener of the Gram H (host, row-major n×n, symmetric up to rounding: (H + Hᵀ)/2 is used).
/// See the header comment for the paths, the ridge escalation and `defect`. Throws shape_error
/// unless gram holds n·n values (n > 0), invalid_argument for bad options; NaN/Inf in H gives
/// status::nonfinite_input.
template <backend_context Ctx>
whitener<backend_of<Ctx>> make_whitener(Ctx& ctx, std::span<const double> gram, std::size_t n,
                                        const whitening_options& opt = {}) {
    using B = backend_of<Ctx>;
    detail::compress::require_square(gram, n, "make_whitener");
    opt.validate();
    whitener<B> s;
    s.channels = n;
    if (!detail::compress::all_finite(gram)) {
        s.status = status::nonfinite_input;
        return s;
    }
    // One host copy (H_reg, built from (H + Hᵀ)/2) besides the caller's Gram; the diagonal is
    // kept aside so each Cholesky attempt can add its ridge and restore it exactly.
    double trace = 0, norm2 = 0;
    for (std::size_t i = 0; i < n; ++i) trace += gram[i * n + i];
    if (!(trace > 0)) return s;  // no activation energy: identity (documented)
    const double mu = trace / static_cast<double>(n), alpha = opt.shrinkage;
    std::vector<double> reg(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            const double h = i == j ? gram[i * n + i] : 0.5 * (gram[i * n + j] + gram[j * n + i]);
            norm2 += h * h;
            reg[i * n + j] = (1 - alpha) * h;
        }
    std::vector<double> diag(n);
    for (std::size_t i = 0; i < n; ++i) diag[i] = reg[i * n + i] += (alpha + opt.ridge) * mu;
    s.shrinkage = alpha;

    if (opt.method == whitening_method::cholesky) {
        double extra = 0;  // escalated ridge on top of λ₀
        for (;;) {
            for (std::size_t i = 0; i < n; ++i) reg[i * n + i] = diag[i] + extra;
            auto t = B::template upload<double>(ctx, reg.data(), {n, n});
            ++s.cholesky_attempts;
            if (B::potrf(ctx, n, B::data(t)) == 0) {
                s.kind = whitener_kind::cholesky;
                s.factor = std::move(t);
                s.ridge = opt.ridge * mu + extra;
                const double c = alpha * mu + s.ridge;  // S Sᵀ − H = −αH + c·I
                const double d2 = alpha * alpha * norm2 - 2 * alpha * c * trace + static_cast<double>(n) * c * c;
                s.defect = norm2 > 0 ? std::sqrt(std::max(0.0, d2) / norm2) : 0.0;
                return s;
            }
            const double next = extra == 0 ? opt.ridge_start * mu : extra * opt.ridge_growth;
            if (next > opt.ridge_max * mu) break;
            extra = next;
        }
        for (std::size_t i = 0; i < n; ++i) reg[i * n + i] = diag[i];
    }

    // Eigen path: H_reg = U Λ Uᵀ, clamp, S = U Λ′^{1/2}, S⁻¹ = Λ′^{-1/2} Uᵀ.
    s.kind = whitener_kind::eigen;
    s.ridge = opt.ridge * mu;
    auto e = B::template upload<double>(ctx, reg.data(), {n, n});
    std::vector<double>().swap(reg);
    std::vector<double> w(n);
    if (B::syevd(ctx, n, B::data(e), w.data()) > 0) {
        s.status = status::no_convergence;
        return s;
    }
    s.min_eigenvalue = w[0];
    const double floor = opt.eigen_floor * w[n - 1];  // λ_max ≥ tr/n > 0
    std::vector<double> root(n), inv_root(n);
    double d2 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double lam = w[i];
        if (!(lam >= floor)) {
            lam = floor;
            ++s.clamped;
        }
        root[i] = std::sqrt(lam);
        inv_root[i] = 1 / root[i];
        const double h_i = (w[i] - (alpha + opt.ridge) * mu) / (1 - alpha);  // eigenvalue of H in this basis
        d2 += (lam - h_i) * (lam - h_i);
    }
    s.defect = norm2 > 0 ? std::sqrt(d2 / norm2) : 0.0;
    auto u = B::template empty<double>(ctx, {n, n});  // columns = eigenvectors (syevd gives rows)
    B::transpose(ctx, n, n, B::data(e), B::data(u));
    s.factor = B::template empty<double>(ctx, {n, n});
    B::copy(ctx, n * n, B::data(u), B::data(s.factor));
    B::scale_columns(ctx, n, n, B::data(s.factor), root.data());
    B::scale_columns(ctx, n, n, B::data(u), inv_root.data());  // U Λ′^{-1/2}
    s.inverse = B::template empty<double>(ctx, {n, n});
    B::transpose(ctx, n, n, B::data(u), B::data(s.inverse));
    return s;
}

/// make_whitener on the Gram H of calibration statistics.
template <backend_context Ctx>
whitener<backend_of<Ctx>> make_whitener(Ctx& ctx, const input_stats& stats, const whitening_options& opt = {}) {
    stats.validate_shape("make_whitener");
    return make_whitener(ctx, std::span<const double>(stats.gram), stats.channels, opt);
}

/// W·S for W [m, n] (element type T, computed in T). Throws shape_error when n differs from
/// the whitener's channel count; a whitener whose status is not ok is misuse (invalid_argument).
template <backend_context Ctx, class Tensor>
Tensor whiten_right(Ctx& ctx, const whitener<backend_of<Ctx>>& s, const Tensor& w) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t ws = B::shape(w);
    if (ws.size() != 2 || ws[1] != s.channels)
        throw shape_error("whiten_right: W of shape " + to_string(ws) + " does not take " +
                          std::to_string(s.channels) + " input channels");
    if (s.status != status::ok) throw invalid_argument("whiten_right: the whitener is unusable (status " +
                                                       std::string(to_string(s.status)) + ")");
    const std::size_t m = ws[0], n = ws[1];
    Tensor out = B::template empty<T>(ctx, ws);
    switch (s.kind) {
        case whitener_kind::identity: B::copy(ctx, m * n, B::data(w), B::data(out)); break;
        case whitener_kind::diagonal: {
            B::copy(ctx, m * n, B::data(w), B::data(out));
            const std::vector<T> d(s.diagonal.begin(), s.diagonal.end());
            B::scale_columns(ctx, m, n, B::data(out), d.data());
            break;
        }
        case whitener_kind::cholesky:
        case whitener_kind::eigen: {
            const auto f = detail::compress::convert<T>(ctx, s.factor);
            B::gemm(ctx, op::none, op::none, m, n, n, T(1), B::data(w), n, B::data(f), n, T(0), B::data(out), n);
            break;
        }
    }
    return out;
}

/// X ← X·S⁻¹ in place for X [k, n] of doubles (triangular solve for Cholesky, product with
/// Λ^{-1/2}Uᵀ for eigen, 1/d column scaling for diagonal). Same misuse rules as whiten_right.
template <backend_context Ctx>
void unwhiten_right(Ctx& ctx, const whitener<backend_of<Ctx>>& s, tensor_t<backend_of<Ctx>, double>& x) {
    using B = backend_of<Ctx>;
    const shape_t xs = B::shape(x);
    if (xs.size() != 2 || xs[1] != s.channels)
        throw shape_error("unwhiten_right: X of shape " + to_string(xs) + " does not have " +
                          std::to_string(s.channels) + " columns");
    if (s.status != status::ok) throw invalid_argument("unwhiten_right: the whitener is unusable (status " +
                                                       std::string(to_string(s.status)) + ")");
    const std::size_t k = xs[0], n = xs[1];
    switch (s.kind) {
        case whitener_kind::identity: break;
        case whitener_kind::diagonal: {
            std::vector<double> inv(n);
            for (std::size_t j = 0; j < n; ++j) inv[j] = 1 / s.diagonal[j];
            B::scale_columns(ctx, k, n, B::data(x), inv.data());
            break;
        }
        case whitener_kind::cholesky:
            B::trsm(ctx, side::right, op::none, k, n, 1.0, B::data(s.factor), n, B::data(x), n);
            break;
        case whitener_kind::eigen: {
            auto y = B::template empty<double>(ctx, xs);
            B::gemm(ctx, op::none, op::none, k, n, n, 1.0, B::data(x), n, B::data(s.inverse), n, 0.0, B::data(y), n);
            x = std::move(y);
            break;
        }
    }
}

}  // namespace lowrank
