// Parameter planning for the structured compressor (MLP channel pruning + VO value-dimension
// reduction; compress/structured_mlp.hpp, compress/structured_vo.hpp) on a Llama-family model.
//
// Linear parameters of one layer (hidden h, intermediate I, H heads, G kv heads, head dim d),
// with I′ intermediate channels and value dimension r kept:
//     q: H·d·h     k: G·d·h          (never compressed, counted dense)
//     v: G·r·h     o: h·H·r          (VO)
//     gate, up: I′·h each, down: h·I′ (MLP)
// so P(I′, r) = L·[(H + G)·d·h + (G + H)·r·h + 3·h·I′] over L layers, and the dense total is
// P(I, d). K is the kept fraction of the dense total (embeddings, norms and the head are not
// counted); the budget is ⌊K·P(I, d)⌋.
//
// Uniform plan (plan_structured_uniform): every layer keeps the same fraction f of its
// compressible parameters, f = (budget − L·(H + G)·d·h) / (P(I, d) − L·(H + G)·d·h); the value
// dimension is r = round(f·d) (clamped to [1, d]), and then I′ is the largest channel count with
// P(I′, r) ≤ budget (≤ I). The plan's parameter count is exact and never exceeds the budget; it
// falls short by less than 3·h·L parameters unless I′ = I. A K whose budget cannot hold q/k plus
// one value dimension and one channel per layer is an invalid_argument.
#pragma once

#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace lowrank {

/// The linear-layer shapes of a Llama-family model (uniform over layers).
struct llama_linear_shape {
    std::size_t layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0;

    void validate() const {
        if (layers == 0 || hidden == 0 || intermediate == 0 || heads == 0 || kv_heads == 0 || head_dim == 0 ||
            heads % kv_heads != 0)
            throw invalid_argument("llama_linear_shape: inconsistent shape (layers " + std::to_string(layers) + ", hidden " +
                                   std::to_string(hidden) + ", intermediate " + std::to_string(intermediate) + ", heads " +
                                   std::to_string(heads) + "/" + std::to_string(kv_heads) + ", head dim " +
                                   std::to_string(head_dim) + ")");
    }
};

/// Linear parameters of one layer with `mlp_keep` channels and value dimension `value_dim`.
inline std::uint64_t structured_layer_params(const llama_linear_shape& s, std::size_t mlp_keep, std::size_t value_dim) {
    const std::uint64_t h = s.hidden;
    return (s.heads + s.kv_heads) * std::uint64_t(s.head_dim) * h + (s.kv_heads + s.heads) * std::uint64_t(value_dim) * h +
           3 * h * mlp_keep;
}

/// Linear parameters of the whole model (uniform plan).
inline std::uint64_t structured_params(const llama_linear_shape& s, std::size_t mlp_keep, std::size_t value_dim) {
    return s.layers * structured_layer_params(s, mlp_keep, value_dim);
}

struct structured_plan {
    std::size_t mlp_keep = 0;          ///< I′ (every layer)
    std::size_t value_dim = 0;         ///< r (every layer)
    double fraction = 1;               ///< f, the compressible fraction aimed at
    std::uint64_t params_before = 0;   ///< P(I, d)
    std::uint64_t params_after = 0;    ///< P(I′, r) ≤ budget
    std::uint64_t budget = 0;          ///< ⌊K·P(I, d)⌋
    double kept() const { return params_before ? double(params_after) / double(params_before) : 0.0; }
};

/// The uniform plan for kept fraction `keep` ∈ (0, 1] (see the header comment).
inline structured_plan plan_structured_uniform(const llama_linear_shape& s, double keep) {
    s.validate();
    if (!(keep > 0 && keep <= 1)) throw invalid_argument("plan_structured_uniform: keep " + std::to_string(keep) + " is outside (0, 1]");
    structured_plan p;
    p.params_before = structured_params(s, s.intermediate, s.head_dim);
    p.budget = static_cast<std::uint64_t>(std::floor(keep * double(p.params_before)));
    if (keep == 1) p.budget = p.params_before;
    const std::uint64_t fixed = s.layers * std::uint64_t(s.heads + s.kv_heads) * s.head_dim * s.hidden;
    if (p.budget < structured_params(s, 1, 1))
        throw invalid_argument("plan_structured_uniform: keep " + std::to_string(keep) + " leaves " + std::to_string(p.budget) +
                               " parameters, fewer than q/k (" + std::to_string(fixed) +
                               ", never compressed) plus one value dimension and one MLP channel per layer");
    p.fraction = double(p.budget - fixed) / double(p.params_before - fixed);
    p.value_dim = std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(p.fraction * double(s.head_dim))), 1, s.head_dim);
    auto channels_for = [&](std::size_t r) -> long long {
        const std::uint64_t rest = s.layers * (fixed / s.layers + std::uint64_t(s.kv_heads + s.heads) * r * s.hidden);
        if (rest > p.budget) return -1;
        return static_cast<long long>(std::min<std::uint64_t>((p.budget - rest) / (3 * std::uint64_t(s.hidden) * s.layers),
                                                              s.intermediate));
    };
    long long k = channels_for(p.value_dim);
    while (k < 1 && p.value_dim > 1) k = channels_for(--p.value_dim);  // rounding r up left no room for the MLP
    if (k < 1) throw invalid_argument("plan_structured_uniform: keep " + std::to_string(keep) + " is too small");
    p.mlp_keep = static_cast<std::size_t>(k);
    p.params_after = structured_params(s, p.mlp_keep, p.value_dim);
    return p;
}

}  // namespace lowrank
