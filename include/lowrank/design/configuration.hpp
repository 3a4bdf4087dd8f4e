// A decomposition configuration γ and its validity (the study's Definitions 3.2–3.4, Prop. 3.1).
//
//   Decomp_Layers(m)  ⊆ {0 … N_Layers−1}      layers to decompose
//   Decomp_Tensors(m) ⊆ {0 … N_Tensors−1}     tensor roles to decompose in each chosen layer
//   PR(m) = {(l, k, p)}, 0 < p ≤ rank(l, k)   pruned rank of tensor k in layer l
//   γ(m)  = (PR, Decomp_Layers, Decomp_Tensors)
//
// Validity (Proposition 3.1, coverage form): every (l, k, p) ∈ PR has l ∈ Decomp_Layers and
// k ∈ Decomp_Tensors, PR holds exactly one triple per (l, k) pair, and every chosen pair
// L × T is covered, so |PR| = |L|·|T|. (The study writes |PR| = (|L|−1)(|T|−1)+1, which
// contradicts its own prose "cover all the decomposed (layer, tensor) combinations"; see
// docs/design-space.md.) The undecomposed model has the single canonical form L = T = PR = ∅:
// choosing layers but no tensors (or tensors but no layers) is rejected, which is what makes
// Theorem 3.1 count it exactly once.
//
// Indices inside the library are 0-based; the JSON form states its base (gamma_json.hpp).
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/design/architecture.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lowrank::design {

/// One element (l, k, p) of PR(m).
struct pruned_rank {
    std::uint64_t layer = 0;   ///< l, 0-based
    std::size_t tensor = 0;    ///< k, index into architecture::tensors()
    std::uint64_t rank = 0;    ///< p, 0 < p ≤ rank(l, k)
    friend auto operator<=>(const pruned_rank&, const pruned_rank&) = default;
};

/// γ(m) = (PR, Decomp_Layers, Decomp_Tensors) plus the model it applies to and the storage form.
struct configuration {
    std::string model;                          ///< architecture name (catalog or config.json)
    factor_form method = factor_form::tucker2;  ///< how each chosen tensor is factorised
    std::vector<std::uint64_t> layers;          ///< Decomp_Layers, 0-based, sorted, unique
    std::vector<std::size_t> tensors;           ///< Decomp_Tensors, role indices, sorted, unique
    std::vector<pruned_rank> ranks;             ///< PR, sorted by (layer, tensor)

    bool decomposes_nothing() const { return layers.empty() && tensors.empty() && ranks.empty(); }

    /// The pruned rank of (layer, tensor), if PR has one.
    std::optional<std::uint64_t> rank_of(std::uint64_t layer, std::size_t tensor) const {
        auto it = std::lower_bound(ranks.begin(), ranks.end(), pruned_rank{layer, tensor, 0},
                                   [](const pruned_rank& a, const pruned_rank& b) {
                                       return std::pair{a.layer, a.tensor} < std::pair{b.layer, b.tensor};
                                   });
        if (it != ranks.end() && it->layer == layer && it->tensor == tensor) return it->rank;
        return std::nullopt;
    }

    /// Sorts layers, tensors and PR (does not remove duplicates: validity reports them).
    void normalise() {
        std::sort(layers.begin(), layers.end());
        std::sort(tensors.begin(), tensors.end());
        std::sort(ranks.begin(), ranks.end());
    }

    friend bool operator==(const configuration&, const configuration&) = default;
};

/// γ with one rank p for every chosen (layer, tensor) pair — the study's uniform decomposition.
inline configuration make_uniform(const architecture& arch, std::vector<std::uint64_t> layers,
                                  std::vector<std::size_t> tensors, std::uint64_t rank,
                                  factor_form method = factor_form::tucker2) {
    configuration g;
    g.model = arch.name;
    g.method = method;
    g.layers = std::move(layers);
    g.tensors = std::move(tensors);
    for (auto l : g.layers)
        for (auto k : g.tensors) g.ranks.push_back({l, k, rank});
    g.normalise();
    return g;
}

/// All tensor roles of a block: {0 … N_Tensors−1}.
inline std::vector<std::size_t> all_tensors(const architecture& arch) {
    std::vector<std::size_t> t(arch.tensors_per_layer());
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = i;
    return t;
}

/// Why γ is invalid for `arch` (Proposition 3.1 plus the range conditions of Definitions 3.2
/// and 3.3), or nullopt when it is valid. Messages use 0-based indices and role names.
inline std::optional<std::string> invalid_reason(const architecture& arch, const configuration& g) {
    const auto specs = arch.tensors();
    auto role = [&](std::size_t k) {
        if (k < specs.size()) return specs[k].role_name();
        std::string r = "#";  // (not "#" + to_string: GCC 12 -Wrestrict false positive)
        r += std::to_string(k);
        return r;
    };
    if (!g.model.empty() && g.model != arch.name)
        return "configuration is for model '" + g.model + "', not '" + arch.name + "'";
    std::set<std::uint64_t> L;
    for (auto l : g.layers) {
        if (l >= arch.layers)
            return "layer " + std::to_string(l) + " out of range [0, " + std::to_string(arch.layers) + ")";
        if (!L.insert(l).second) return "duplicate layer " + std::to_string(l);
    }
    std::set<std::size_t> T;
    for (auto k : g.tensors) {
        if (k >= specs.size())
            return "tensor index " + std::to_string(k) + " out of range [0, " + std::to_string(specs.size()) + ")";
        if (!T.insert(k).second) return "duplicate tensor '" + role(k) + "'";
    }
    if (L.empty() != T.empty())
        return L.empty() ? "tensors chosen but no layers (the undecomposed model is L = T = PR = ∅)"
                         : "layers chosen but no tensors (the undecomposed model is L = T = PR = ∅)";
    std::set<std::pair<std::uint64_t, std::size_t>> covered;
    for (const auto& t : g.ranks) {
        const std::string where = "(layer " + std::to_string(t.layer) + ", " + role(t.tensor) + ")";
        if (!L.count(t.layer)) return "pruned rank for " + where + " but layer " + std::to_string(t.layer) + " is not decomposed";
        if (!T.count(t.tensor)) return "pruned rank for " + where + " but tensor '" + role(t.tensor) + "' is not decomposed";
        if (t.rank == 0) return "rank 0 for " + where + " (pruned ranks are positive)";
        if (t.rank > specs[t.tensor].rank())
            return "rank " + std::to_string(t.rank) + " for " + where + " exceeds the tensor's rank " +
                   std::to_string(specs[t.tensor].rank()) + " (shape " + std::to_string(specs[t.tensor].rows) + "×" +
                   std::to_string(specs[t.tensor].cols) + ")";
        if (!covered.insert({t.layer, t.tensor}).second) return "duplicate pruned rank for " + where;
    }
    for (auto l : L)
        for (auto k : T)
            if (!covered.count({l, k}))
                return "no pruned rank for (layer " + std::to_string(l) + ", " + role(k) +
                       "): PR must cover every chosen (layer, tensor) pair";
    return std::nullopt;
}

/// Val(γ) of Proposition 3.1 (coverage form).
inline bool is_valid(const architecture& arch, const configuration& g) { return !invalid_reason(arch, g); }

/// Throws invalid_argument (rank_error for rank problems) when γ is invalid.
inline void validate(const architecture& arch, const configuration& g) {
    if (auto why = invalid_reason(arch, g)) {
        if (why->find("rank ") == 0) throw rank_error("invalid configuration: " + *why);
        throw invalid_argument("invalid configuration: " + *why);
    }
}

/// Parameter accounting of a configuration.
struct parameter_reduction {
    std::uint64_t total_before = 0;   ///< all model parameters (embeddings, norms, biases, head)
    std::uint64_t linear_before = 0;  ///< decomposable block weights only (N_Layers × per layer)
    std::uint64_t dense_replaced = 0; ///< dense weights of the decomposed tensors
    std::uint64_t factored = 0;       ///< parameters of their factorised forms
    std::int64_t saved() const { return static_cast<std::int64_t>(dense_replaced) - static_cast<std::int64_t>(factored); }
    std::uint64_t total_after() const { return total_before - dense_replaced + factored; }
    double of_total() const { return static_cast<double>(saved()) / static_cast<double>(total_before); }
    double of_linear() const { return static_cast<double>(saved()) / static_cast<double>(linear_before); }
};

/// Parameters saved by γ in γ.method (factored_parameters() of decomp/parameters.hpp), as
/// fractions of the whole model (the base that reproduces the study's Table 4.2) and of the
/// decomposable weights. Validates γ first.
inline parameter_reduction reduction(const architecture& arch, const configuration& g) {
    validate(arch, g);
    const auto specs = arch.tensors();
    parameter_reduction r;
    r.total_before = arch.total_parameters();
    r.linear_before = arch.linear_parameters();
    for (const auto& t : g.ranks) {
        const auto& s = specs[t.tensor];
        r.dense_replaced += dense_parameters(s.rows, s.cols);
        r.factored += factored_parameters(s.rows, s.cols, t.rank, g.method);
    }
    return r;
}

}  // namespace lowrank::design
