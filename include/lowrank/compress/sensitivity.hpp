// Sensitivity weights for rank allocation: measured per-group losses → per-item loss weights.
//
// Setting. allocate_ranks (compress/allocation.hpp) minimises Σ_i w_i·ℓ_i(r_i) over loss curves
// ℓ_i that are each item's own measure (e.g. the relative whitened loss L_i(r)/L_i(0)); curves
// of different items need not be comparable. A measurement of the model's real loss is cheap
// only for a few points: here one per group g of items (e.g. the linear weights of one
// transformer block), taken at a reference allocation r^ref (e.g. the uniform one) — s_g, the
// loss increase when only group g is compressed at r^ref.
//
// Contract of group_loss_weights(group, reference_loss, measured, floor):
//   group[i]           the group of item i (< measured.size());
//   reference_loss[i]  ℓ_i(r_i^ref) ≥ 0, finite (0 for an item that is dense at the reference);
//   measured[g]        s_g, finite (may be ≤ 0: noise, or a group the compression did not hurt);
//   floor              > 0, finite: the smallest group loss used, so that no weight is ≤ 0.
// Returns w with
//     w_i = max(s_g, floor) / Σ_{j: group[j] = g} ℓ_j      (g = group[i]),
// i.e. the weighted predicted loss of every group at the reference allocation,
// Σ_{j∈g} w_j ℓ_j(r_j^ref), equals max(s_g, floor): the allocator's objective agrees with the
// measurement at the reference point, and within a group the items' curves keep their
// relative scale. A group whose reference losses sum to 0 (nothing discarded there) has nothing
// to match; its items get w_i = max(s_g, floor). A group with no items is allowed (ignored).
// Scale: multiplying every s_g by c > 0 (with the floor) multiplies every w_i by c, which does
// not change allocate_ranks' minimiser; if s_g = c·Σ_{j∈g} ℓ_j for every g, all w_i = c.
// Throws invalid_argument on mismatched sizes, a group index out of range, a negative or
// non-finite reference loss, a non-finite measurement, or a floor that is not > 0 and finite.
#pragma once

#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace lowrank {

inline std::vector<double> group_loss_weights(std::span<const std::size_t> group, std::span<const double> reference_loss,
                                              std::span<const double> measured, double floor) {
    if (group.size() != reference_loss.size())
        throw invalid_argument("group_loss_weights: " + std::to_string(group.size()) + " group indices but " +
                               std::to_string(reference_loss.size()) + " reference losses");
    if (!(floor > 0) || !std::isfinite(floor)) throw invalid_argument("group_loss_weights: floor must be > 0 and finite");
    for (double s : measured)
        if (!std::isfinite(s)) throw invalid_argument("group_loss_weights: a measured group loss is not finite");
    std::vector<double> sum(measured.size(), 0.0);
    for (std::size_t i = 0; i < group.size(); ++i) {
        if (group[i] >= measured.size())
            throw invalid_argument("group_loss_weights: item " + std::to_string(i) + " has group " + std::to_string(group[i]) +
                                   ", but there are " + std::to_string(measured.size()) + " groups");
        const double l = reference_loss[i];
        if (!(l >= 0) || !std::isfinite(l))
            throw invalid_argument("group_loss_weights: item " + std::to_string(i) + " has a negative or non-finite reference loss");
        sum[group[i]] += l;
    }
    std::vector<double> w(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) {
        const std::size_t g = group[i];
        const double s = std::max(measured[g], floor);
        w[i] = sum[g] > 0 ? s / sum[g] : s;
    }
    return w;
}

inline std::vector<double> group_loss_weights(const std::vector<std::size_t>& group, const std::vector<double>& reference_loss,
                                              const std::vector<double>& measured, double floor) {
    return group_loss_weights(std::span<const std::size_t>(group), std::span<const double>(reference_loss),
                              std::span<const double>(measured), floor);
}

}  // namespace lowrank
