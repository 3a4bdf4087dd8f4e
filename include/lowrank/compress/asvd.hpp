// ASVD activation scaling (Yuan et al. 2023) as a whitener: S = diag(d) with
//     d_j = max(mean|x_j|, floor·max_k mean|x_k|)^α,
// so whitened_svd (compress/whitened_svd.hpp) computes the SVD of W·diag(d) and folds diag(d)⁻¹
// back into v — channels with large activations weigh more in the truncation. The floor keeps
// S invertible when a channel never fires. S Sᵀ is not the Gram, so the discarded energy is
// ‖(W − W′)·diag(d)‖²_F, a proxy for the output error (measure the latter with output_error).
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/compress/stats.hpp"
#include "lowrank/compress/whitening.hpp"
#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>

namespace lowrank {

struct asvd_options {
    double alpha = 0.5;   ///< exponent α ≥ 0 (ASVD's default 0.5; 0 gives plain SVD)
    double floor = 1e-6;  ///< ∈ [0, 1): mean|x| is clamped to ≥ floor·max mean|x| (> 0 keeps S invertible)

    void validate() const {
        if (!(alpha >= 0) || !std::isfinite(alpha))
            throw invalid_argument("asvd_options: alpha must be a finite number >= 0, got " + std::to_string(alpha));
        if (!(floor >= 0 && floor < 1))
            throw invalid_argument("asvd_options: floor must be in [0, 1), got " + std::to_string(floor));
    }
};

/// The diagonal ASVD whitener from per-channel mean |x| (n > 0 values). Throws shape_error for
/// an empty vector, invalid_argument for bad options or a negative mean; NaN/Inf gives
/// status::nonfinite_input. All-zero means (no activation seen) give the identity whitener.
/// With floor = 0 a zero channel gives d_j = 0 and a non-invertible S: that is allowed only
/// for α = 0 (invalid_argument otherwise).
template <backend_context Ctx>
whitener<backend_of<Ctx>> asvd_whitener(Ctx&, std::span<const double> mean_abs, const asvd_options& opt = {}) {
    opt.validate();
    const std::size_t n = mean_abs.size();
    if (n == 0) throw shape_error("asvd_whitener: no channels");
    whitener<backend_of<Ctx>> s;
    s.channels = n;
    s.defect = std::numeric_limits<double>::quiet_NaN();
    double top = 0;
    for (std::size_t j = 0; j < n; ++j) {
        const double v = mean_abs[j];
        if (!std::isfinite(v)) {
            s.status = status::nonfinite_input;
            return s;
        }
        if (v < 0) throw invalid_argument("asvd_whitener: mean |x| of channel " + std::to_string(j) + " is negative");
        top = std::max(top, v);
    }
    if (top == 0) return s;  // identity
    const double lo = opt.floor * top;
    s.kind = whitener_kind::diagonal;
    s.diagonal.resize(n);
    for (std::size_t j = 0; j < n; ++j) {
        const double base = std::max(mean_abs[j], lo);
        if (base == 0 && opt.alpha > 0)
            throw invalid_argument("asvd_whitener: channel " + std::to_string(j) +
                                   " has mean |x| = 0 and floor = 0, so S would not be invertible");
        s.diagonal[j] = opt.alpha == 0 ? 1.0 : std::pow(base, opt.alpha);
    }
    return s;
}

/// asvd_whitener on the per-channel mean |x| of calibration statistics.
template <backend_context Ctx>
whitener<backend_of<Ctx>> asvd_whitener(Ctx& ctx, const input_stats& stats, const asvd_options& opt = {}) {
    stats.validate_shape("asvd_whitener");
    const std::vector<double> m = stats.mean_abs();
    return asvd_whitener(ctx, std::span<const double>(m), opt);
}

}  // namespace lowrank
