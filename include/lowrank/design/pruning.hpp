// The study's pruning heuristics (Section 3.2) as a configurable pruned design space.
//
// Characterising Llama-2-7B, the study keeps only configurations that
//   * use one pruned rank for every decomposed tensor (rank barely moves accuracy: rank 1),
//   * decompose whole layers (all chosen tensors of a chosen layer; by default all 7),
//   * avoid the first layers and the ones next to them (skip first k, last j),
//   * spread the decomposed layers as far apart as possible,
// which shrinks O(2^37) configurations to O(N_Layers): one per number of decomposed layers.
// spread_layers() is the spacing rule; pruned_space() lists those configurations; and
// check_break_even() refuses ranks at which factorising a tensor saves no parameters
// (break_even_rank() of decomp/parameters.hpp).
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/configuration.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace lowrank::design {

/// Options of the pruned space (all layer numbers 0-based).
struct pruning_options {
    std::uint64_t rank = 1;                    ///< the single pruned rank
    std::vector<std::size_t> tensors;          ///< roles decomposed in every chosen layer; empty = all
    std::uint64_t skip_first = 0;              ///< never decompose layers [0, skip_first)
    std::uint64_t skip_last = 0;               ///< never decompose the last skip_last layers
    factor_form method = factor_form::tucker2;
};

/// n layers from [first, last] (inclusive) spaced as evenly as possible: first + round(i·(last −
/// first)/(n − 1)), i = 0 … n−1, ties rounded up; n = 1 gives the middle layer (rounded up).
/// Maximises the smallest gap between consecutive chosen layers. Throws when n > last − first + 1.
inline std::vector<std::uint64_t> spread_layers(std::uint64_t n, std::uint64_t first, std::uint64_t last) {
    if (last < first) throw invalid_argument("spread_layers: empty layer range");
    const std::uint64_t avail = last - first + 1;
    if (n > avail)
        throw invalid_argument("spread_layers: " + std::to_string(n) + " layers requested but only " + std::to_string(avail) + " allowed");
    std::vector<std::uint64_t> out;
    if (n == 0) return out;
    if (n == 1) return {first + (last - first + 1) / 2};
    const std::uint64_t span = last - first;
    for (std::uint64_t i = 0; i < n; ++i)  // round(i·span/(n−1)) in integers, halves up
        out.push_back(first + (2 * i * span + (n - 1)) / (2 * (n - 1)));
    return out;
}

/// The layers the options allow, as an inclusive range [first, last]; throws when empty.
inline std::pair<std::uint64_t, std::uint64_t> allowed_layers(const architecture& arch, const pruning_options& o) {
    if (o.skip_first + o.skip_last >= arch.layers)
        throw invalid_argument("skip_first (" + std::to_string(o.skip_first) + ") + skip_last (" + std::to_string(o.skip_last) +
                               ") leave no layer of " + std::to_string(arch.layers) + " to decompose");
    return {o.skip_first, arch.layers - 1 - o.skip_last};
}

/// Throws rank_error when `rank` is zero, exceeds a chosen tensor's rank, or is at or above the
/// break-even rank of a chosen tensor in `method` (factorising would not save parameters).
inline void check_break_even(const architecture& arch, const std::vector<std::size_t>& tensors, std::uint64_t rank,
                             factor_form method) {
    if (rank == 0) throw rank_error("rank must be positive");
    const auto specs = arch.tensors();
    for (auto k : tensors.empty() ? all_tensors(arch) : tensors) {
        if (k >= specs.size()) throw invalid_argument("tensor index " + std::to_string(k) + " out of range");
        const auto& s = specs[k];
        if (rank > s.rank())
            throw rank_error("rank " + std::to_string(rank) + " exceeds the rank " + std::to_string(s.rank()) + " of tensor '" +
                             s.role_name() + "' (" + std::to_string(s.rows) + "×" + std::to_string(s.cols) + ")");
        const std::uint64_t be = break_even_rank(s.rows, s.cols, method);
        if (rank > be)
            throw rank_error("rank " + std::to_string(rank) + " saves nothing on tensor '" + s.role_name() + "' (" +
                             std::to_string(s.rows) + "×" + std::to_string(s.cols) + ") in " + to_string(method) +
                             " form: its break-even rank is " + std::to_string(be));
    }
}

/// The pruned space: for n = 1 … (allowed layers), the whole-layer, single-rank configuration
/// on spread_layers(n, first, last). Element n−1 decomposes n layers.
inline std::vector<configuration> pruned_space(const architecture& arch, const pruning_options& o) {
    check_break_even(arch, o.tensors, o.rank, o.method);
    const auto [first, last] = allowed_layers(arch, o);
    const auto tensors = o.tensors.empty() ? all_tensors(arch) : o.tensors;
    std::vector<configuration> out;
    for (std::uint64_t n = 1; n <= last - first + 1; ++n)
        out.push_back(make_uniform(arch, spread_layers(n, first, last), tensors, o.rank, o.method));
    return out;
}

}  // namespace lowrank::design
