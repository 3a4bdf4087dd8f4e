// Token-level scoring of several continuations of one context with the runtime's Llama model:
// log p(k | ctx) for every continuation k, the model work behind eval::llama_scorer (which does
// lm-evaluation-harness's request encoding and then calls score_continuations).
//
// Three ways to run it, equal up to float32 rounding (tests/eval/test_eval.cpp compares them with
// each other and with llama_model::score, within 1e-4 per request):
//   per_request     every (context, continuation) pair in its own forward pass over ctx + k —
//                   what lm-evaluation-harness computes request by request;
//   shared_context  the context once, its KV cache copied for each continuation, then one
//                   forward per continuation;
//   batched         the context once, then every continuation in one batched forward: a cache of
//                   B = #continuations sequences holding the context's keys/values, the
//                   continuations right-padded to the longest. Causal attention makes each
//                   sequence's positions independent of the padding after them, so padded rows are
//                   computed and never read. One GEMM of B·T rows per linear instead of B of T
//                   rows: the default, and what `lowrank eval --scoring` measures against the others
//                   (docs/eval.md "Scoring speed").
// Contract: ctx non-empty; ctx.size() + max |k| ≤ context + 1 (the caller truncates otherwise,
// as llama_scorer does); token ids < vocab. An empty continuation scores 0 with greedy = true.
#pragma once

#include "eval/scoring.hpp"
#include "runtime/llama.hpp"
#include "runtime/ops.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace lowrank::eval {

enum class scoring_mode { per_request, shared_context, batched };

inline const char* to_string(scoring_mode m) {
    constexpr const char* n[] = {"per-request", "shared-context", "batched"};
    return n[static_cast<int>(m)];
}

/// Parses "per-request" | "shared-context" | "batched"; throws invalid_argument naming `what`.
inline scoring_mode parse_scoring_mode(const std::string& s, const std::string& what) {
    for (scoring_mode m : {scoring_mode::per_request, scoring_mode::shared_context, scoring_mode::batched})
        if (s == to_string(m)) return m;
    throw invalid_argument(what + ": '" + s + "' is not per-request, shared-context or batched");
}

namespace detail {

/// Adds log p(target | row) to r and clears r.greedy unless target is the row's argmax.
inline void accumulate_token(const float* row, std::size_t V, int target, loglikelihood& r) {
    r.logprob += double(row[target]) - runtime::log_sum_exp(row, V);
    std::size_t arg = 0;
    for (std::size_t j = 1; j < V; ++j)
        if (row[j] > row[arg]) arg = j;
    r.greedy = r.greedy && arg == static_cast<std::size_t>(target);
}

/// Copies sequence 0 of `one` (a batch-1 cache of the same model and capacity) into every
/// sequence of `many`, and its length.
inline void broadcast_cache(const runtime::kv_cache& one, runtime::kv_cache& many) {
    if (one.batch != 1 || one.capacity != many.capacity || one.layers != many.layers || one.width != many.width ||
        one.v_width != many.v_width)
        throw invalid_argument("broadcast_cache: caches of different shapes");
    for (std::size_t l = 0; l < many.layers; ++l)
        for (std::size_t b = 0; b < many.batch; ++b) {
            std::memcpy(many.k_at(l, b), one.k_at(l, 0), many.capacity * many.width * sizeof(float));
            std::memcpy(many.v_at(l, b), one.v_at(l, 0), many.capacity * many.v_width[l] * sizeof(float));
        }
    many.length = one.length;
}

}  // namespace detail

/// log p(k | ctx) for every k in conts; see the header comment for the modes and the contract.
inline std::vector<loglikelihood> score_continuations(runtime::llama_model& m, const std::vector<int>& ctx,
                                                      const std::vector<std::vector<int>>& conts,
                                                      scoring_mode mode = scoring_mode::batched) {
    if (ctx.empty()) throw invalid_argument("score_continuations: empty context");
    const std::size_t V = m.config().vocab;
    std::size_t longest = 0;
    for (const auto& k : conts) longest = std::max(longest, k.size());
    std::vector<loglikelihood> out(conts.size());
    for (std::size_t i = 0; i < conts.size(); ++i) out[i].tokens = conts[i].size(), out[i].greedy = true;

    if (mode == scoring_mode::per_request) {
        for (std::size_t i = 0; i < conts.size(); ++i) {
            const auto& k = conts[i];
            if (k.empty()) continue;
            std::vector<int> all(ctx);
            all.insert(all.end(), k.begin(), k.end());
            runtime::kv_cache c = m.make_cache(1, all.size());
            const auto logits = m.forward(all.data(), all.size() - 1, c, true);
            for (std::size_t j = 0; j < k.size(); ++j)
                detail::accumulate_token(logits.data() + (ctx.size() - 1 + j) * V, V, k[j], out[i]);
        }
        return out;
    }

    runtime::kv_cache base = m.make_cache(1, ctx.size() + longest);
    const std::vector<float> first = m.forward(ctx.data(), ctx.size(), base, false);  // predicts k[0]
    std::vector<std::size_t> multi;  // continuations with tokens after the first
    for (std::size_t i = 0; i < conts.size(); ++i) {
        if (conts[i].empty()) continue;
        detail::accumulate_token(first.data(), V, conts[i][0], out[i]);
        if (conts[i].size() > 1) multi.push_back(i);
    }
    if (multi.empty()) return out;

    if (mode == scoring_mode::shared_context) {
        for (std::size_t i : multi) {
            const auto& k = conts[i];
            runtime::kv_cache c = base;
            const auto logits = m.forward(k.data(), k.size() - 1, c, true);
            for (std::size_t j = 1; j < k.size(); ++j) detail::accumulate_token(logits.data() + (j - 1) * V, V, k[j], out[i]);
        }
        return out;
    }

    // batched: inputs k[0 .. |k|−2] of every multi-token continuation, right-padded to T.
    const std::size_t B = multi.size(), T = longest - 1;
    std::vector<int> tokens(B * T);
    for (std::size_t b = 0; b < B; ++b) {
        const auto& k = conts[multi[b]];
        for (std::size_t t = 0; t < T; ++t) tokens[b * T + t] = k[std::min(t, k.size() - 2)];  // pad: repeat the last input
    }
    runtime::kv_cache c = m.make_cache(B, base.capacity);
    detail::broadcast_cache(base, c);
    const auto logits = m.forward(tokens.data(), T, c, true);  // [B·T, V]
    for (std::size_t b = 0; b < B; ++b) {
        const auto& k = conts[multi[b]];
        for (std::size_t j = 1; j < k.size(); ++j)
            detail::accumulate_token(logits.data() + (b * T + j - 1) * V, V, k[j], out[multi[b]]);
    }
    return out;
}

}  // namespace lowrank::eval
