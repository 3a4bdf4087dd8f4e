// Truncation policy: how many singular vectors (per mode) a decomposition keeps.
//
// A truncation is a value with up to three parts:
//   • a rank cap — one rank for every mode, or one per mode (`ranks`);
//   • a relative Frobenius error target ε (`relative_error`);
//   • a minimum rank (default 1).
// Mixing rule (ITensor's): cap by the maximum rank, then, if ε is set, keep the smallest
// rank whose discarded energy Σ_{i≥r} σ_i² stays within the error budget — never more than
// the cap and never fewer than min_rank (nor more than the spectrum holds). With only a cap,
// the cap is the rank; with only ε, the error decides. An explicit rank larger than the
// dimension it truncates is misuse (rank_error); min_rank is clipped to the dimension.
// A default-constructed truncation (no cap, no target) keeps everything.
//
// Budgets. For a matrix the budget is ε²·‖A‖²_F. ST-HOSVD and HOSVD split it evenly over the
// N truncated modes (ε²·‖X‖²_F / N per mode), which guarantees ‖X − X̂‖_F ≤ ε‖X‖_F because the
// total error² is at most the sum of the per-mode discarded energies.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace lowrank {

struct truncation {
    std::vector<std::size_t> max_ranks;  ///< empty: no cap; one entry: every mode; else one per mode
    double rel_error = 0;                ///< target ‖X − X̂‖_F / ‖X‖_F; 0 disables the error rule
    std::size_t min_rank = 1;            ///< floor on every kept rank

    /// Keep exactly r (or the dimension, if smaller, only when an error target is also set).
    static truncation rank(std::size_t r) { return truncation{{r}, 0, 1}; }
    /// One rank per mode.
    static truncation ranks(std::vector<std::size_t> r) { return truncation{std::move(r), 0, 1}; }
    /// Smallest ranks meeting ‖X − X̂‖_F ≤ eps·‖X‖_F.
    static truncation relative_error(double eps) { return truncation{{}, eps, 1}; }

    /// Adds an error target to a rank cap ("both": the smaller rank wins).
    truncation& and_relative_error(double eps) {
        rel_error = eps;
        return *this;
    }
    truncation& with_min_rank(std::size_t r) {
        min_rank = r;
        return *this;
    }

    bool has_cap() const { return !max_ranks.empty(); }

    /// The cap for `mode` of a tensor of order `order` (nullopt when uncapped). Throws
    /// invalid_argument when the per-mode list does not match the order.
    std::optional<std::size_t> cap_for(std::size_t mode, std::size_t order) const {
        if (max_ranks.empty()) return std::nullopt;
        if (max_ranks.size() == 1) return max_ranks[0];
        if (max_ranks.size() != order)
            throw invalid_argument("truncation: " + std::to_string(max_ranks.size()) + " ranks given for a tensor of order " +
                                   std::to_string(order));
        return max_ranks[mode];
    }

    /// Throws invalid_argument / rank_error for an unusable policy.
    void validate() const {
        if (!(rel_error >= 0) || !std::isfinite(rel_error))
            throw invalid_argument("truncation: relative error must be a finite number >= 0, got " +
                                   std::to_string(rel_error));
        for (std::size_t r : max_ranks)
            if (r == 0) throw rank_error("truncation: ranks must be positive");
    }
};

/// Rank chosen for one mode / matrix.
///   sigma:   singular values in descending order (the spectrum available to truncate)
///   dim:     the dimension being truncated (a cap above it is misuse)
///   budget:  allowed discarded energy Σ_{i≥r} σ_i² (ignored when the policy has no error target)
template <class T>
std::size_t choose_rank(const truncation& policy, const std::vector<T>& sigma, std::size_t dim,
                        std::optional<std::size_t> cap, double budget, const char* what = "truncation") {
    const std::size_t available = std::min(sigma.size(), dim);
    if (cap && *cap > dim)
        throw rank_error(std::string(what) + ": rank " + std::to_string(*cap) + " exceeds the dimension " +
                         std::to_string(dim));
    std::size_t r = cap ? *cap : available;
    if (policy.rel_error > 0) {
        // Smallest r with tail energy Σ_{i≥r} σ_i² ≤ budget; accumulate the tail from the
        // smallest value up in double precision.
        std::size_t r_err = available;
        double tail = 0;
        for (std::size_t i = available; i-- > 0;) {
            tail += static_cast<double>(sigma[i]) * static_cast<double>(sigma[i]);
            if (tail > budget) break;
            r_err = i;
        }
        r = std::min(r, r_err);
    }
    r = std::max(r, std::min(policy.min_rank, available));
    return std::min(r, cap ? *cap : r);
}

/// Σ_{i≥r} σ_i² in double precision.
template <class T>
double tail_energy(const std::vector<T>& sigma, std::size_t r) {
    double e = 0;
    for (std::size_t i = sigma.size(); i-- > r;) e += static_cast<double>(sigma[i]) * static_cast<double>(sigma[i]);
    return e;
}

}  // namespace lowrank
