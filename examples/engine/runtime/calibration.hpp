// Calibration: run a Llama-family model (runtime/llama.hpp, dense or factorised) over windows of
// a token stream and accumulate, for every block and every distinct linear input
// (runtime/activation_observer.hpp: attn → q/k/v, o, mlp → gate/up, down), the statistics of
// include/lowrank/compress/stats.hpp (float64 Gram Σ x xᵀ, Σ|x|, token count).
//
// Windows. The caller's token stream (for `lowrank calibrate`: BOS + the text's tokens, as
// `lowrank eval` builds it) is cut into `count` windows of `context` tokens starting at offsets
// drawn uniformly from [0, tokens − context] (calibration_starts: std::mt19937_64 seeded with
// `seed`, each draw reduced to the range by rejection sampling so it is unbiased and the same on
// every platform). Each window is run from position 0 with a fresh cache, so every window token
// contributes one row to every input's statistics: N = count·context tokens per input.
//
// Memory: the model, one window's activations and one n×n float64 Gram per (block, input) —
// for SmolLM2-135M 30·(3·576² + 1536²)·8 bytes ≈ 0.8 GB — nothing else grows with the model.
// (A layer-streaming calibration that keeps one block's Grams at a time is the design of
// compress/stats.hpp; this whole-model pass is the simple form for models whose Grams fit.)
#pragma once

#include "lowrank/compress/stats.hpp"
#include "lowrank/core/errors.hpp"
#include "runtime/activation_observer.hpp"
#include "runtime/llama.hpp"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace lowrank::runtime {

/// `count` window starts uniform in [0, tokens − context] (see the header comment). Throws
/// invalid_argument when count or context is 0 or the stream is shorter than one window.
inline std::vector<std::size_t> calibration_starts(std::size_t tokens, std::size_t context, std::size_t count,
                                                   std::uint64_t seed) {
    if (count == 0) throw invalid_argument("calibration: 0 windows");
    if (context == 0) throw invalid_argument("calibration: a window of 0 tokens");
    if (tokens < context)
        throw invalid_argument("calibration: the token stream has " + std::to_string(tokens) +
                               " tokens, shorter than one window of " + std::to_string(context));
    std::mt19937_64 rng(seed);
    const std::uint64_t range = static_cast<std::uint64_t>(tokens - context) + 1;  // ≥ 1
    // Largest multiple of `range` representable: draws at or above it are rejected (unbiased).
    const std::uint64_t limit = range == 0 ? 0 : UINT64_MAX - (UINT64_MAX % range + 1) % range;
    std::vector<std::size_t> starts(count);
    for (auto& s : starts) {
        std::uint64_t x;
        do x = rng();
        while (x > limit);
        s = static_cast<std::size_t>(x % range);
    }
    return starts;
}

/// The stats-file name of block `layer`'s input: "model.layers.<layer>.<attn_in|o_in|mlp_in|down_in>".
inline std::string calibration_input_name(std::size_t layer, linear_input which) {
    return "model.layers." + std::to_string(layer) + "." + std::string(to_string(which));
}

/// The linear input a decoder role reads (q/k/v → attn, o → o, gate/up → mlp, down → down).
inline std::optional<linear_input> input_of_role(model::role r) {
    using R = model::role;
    switch (r) {
        case R::q: case R::k: case R::v: return linear_input::attn;
        case R::o: return linear_input::o;
        case R::gate: case R::up: return linear_input::mlp;
        case R::down: return linear_input::down;
        default: return std::nullopt;
    }
}

/// The activation observer that accumulates every (block, input)'s statistics on the backend
/// context `Ctx` (one stats_accumulator each). Not thread-safe (one forward at a time).
template <class Ctx>
class calibration_observer : public activation_observer {
public:
    calibration_observer(Ctx& ctx, const llama_config& c, std::size_t chunk_rows = 512) {
        for (std::size_t l = 0; l < c.layers; ++l)
            for (auto in : all_linear_inputs) acc_.emplace_back(ctx, width(c, in), false, chunk_rows);
    }
    static std::size_t width(const llama_config& c, linear_input in) {
        switch (in) {
            case linear_input::attn: case linear_input::mlp: return c.hidden;
            case linear_input::o: return c.heads * c.head_dim;
            case linear_input::down: return c.intermediate;
        }
        return 0;
    }
    void on_input(std::size_t layer, linear_input which, const float* rows, std::size_t count, std::size_t w) override {
        auto& a = acc_.at(layer * 4 + static_cast<std::size_t>(which));
        if (w != a.channels())
            throw shape_error("calibration: " + calibration_input_name(layer, which) + " has " + std::to_string(w) +
                              " channels, expected " + std::to_string(a.channels()));
        if (a.add(rows, count, w) != status::ok && nonfinite_.empty()) nonfinite_ = calibration_input_name(layer, which);
    }
    /// The first input that received NaN/Inf activations ("" if none; such rows were not added).
    const std::string& nonfinite() const { return nonfinite_; }
    /// The statistics of (layer, input); the accumulator restarts.
    input_stats take(std::size_t layer, linear_input which) { return acc_.at(layer * 4 + static_cast<std::size_t>(which)).take(); }

private:
    std::vector<stats_accumulator<Ctx>> acc_;
    std::string nonfinite_;
};

/// Runs `model` over the windows ids[s, s + context) for s in `starts` (one window per forward,
/// fresh cache each), feeding `obs`. `progress(done, total)` after each window. Throws
/// invalid_argument when a window leaves the stream or exceeds the model's context.
inline void run_calibration(llama_model& model, activation_observer& obs, const std::vector<int>& ids,
                            const std::vector<std::size_t>& starts, std::size_t context,
                            const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    if (context > model.config().context)
        throw invalid_argument("calibration: windows of " + std::to_string(context) + " tokens exceed the model's context of " +
                               std::to_string(model.config().context));
    kv_cache cache = model.make_cache(1, context);
    model.set_observer(&obs);
    struct unset {
        llama_model& m;
        ~unset() { m.set_observer(nullptr); }
    } guard{model};
    for (std::size_t w = 0; w < starts.size(); ++w) {
        if (starts[w] + context > ids.size()) throw invalid_argument("calibration: window " + std::to_string(w) + " leaves the token stream");
        cache.length = 0;
        (void)model.forward(ids.data() + starts[w], context, cache, false);
        if (progress) progress(w + 1, starts.size());
    }
}

}  // namespace lowrank::runtime
