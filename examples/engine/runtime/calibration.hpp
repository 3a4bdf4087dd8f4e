// Calibration: run a Llama-family model (runtime/llama.hpp) or a BERT encoder (runtime/bert.hpp),
// dense or factorised, over windows of a token stream and accumulate, for every block and every
// distinct linear input (runtime/activation_observer.hpp), the statistics of
// include/lowrank/compress/stats.hpp (float64 Gram Σ x xᵀ, Σ|x|, token count). The inputs and
// the weights that read them:
//   input    Llama          BERT
//   attn_in  q, k, v        q, k, v (query/key/value)
//   o_in     o              attn-out (attention.output.dense)
//   mlp_in   gate, up       intermediate
//   down_in  down           output (output.dense)
//
// Windows. The caller's token stream (for `lowrank calibrate`: BOS + the text's tokens, as
// `lowrank eval` builds it) is cut into `count` windows of `context` tokens starting at offsets
// drawn uniformly from [0, tokens − context] (calibration_starts: std::mt19937_64 seeded with
// `seed`, each draw reduced to the range by rejection sampling so it is unbiased and the same on
// every platform). Each window is run from position 0 with a fresh cache, so every window token
// contributes one row to every input's statistics: N = count·context tokens per input.
//
// BERT windows: the stream is the text's WordPiece tokens without special tokens; a window is
// [CLS] + `context` − 2 stream tokens + [SEP] (the starts drawn over the stream for the inner
// length), so every window looks like one sequence of `context` tokens the encoder was trained on.
//
// Memory: run_calibration (the whole-model pass; BERT) holds the model, one window's activations
// and one n×n float64 Gram per (block, input) — for SmolLM2-135M 30·(3·576² + 1536²)·8 bytes ≈
// 0.8 GB, for Qwen2.5-1.5B 28·(3·1536² + 8960²)·8 bytes ≈ 19.6 GB, more than this project's 24 GB
// machine holds beside the model. run_streaming_calibration (Llama family; what `lowrank
// calibrate` runs) keeps the windows' hidden states between blocks instead and one block's Grams
// at a time, handing each block's statistics to the caller (which writes them out) before the next
// block runs: the same rows in the same order, so the same sums.
#pragma once

#include "lowrank/compress/stats.hpp"
#include "lowrank/core/errors.hpp"
#include "runtime/activation_observer.hpp"
#include "runtime/bert.hpp"
#include "runtime/llama.hpp"

#include <array>
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

/// The linear input a role reads (q/k/v → attn; o, BERT attn-out → o; gate/up, BERT
/// intermediate → mlp; down, BERT output → down).
inline std::optional<linear_input> input_of_role(model::role r) {
    using R = model::role;
    switch (r) {
        case R::q: case R::k: case R::v: return linear_input::attn;
        case R::o: case R::attn_out: return linear_input::o;
        case R::gate: case R::up: case R::intermediate: return linear_input::mlp;
        case R::down: case R::output: return linear_input::down;
        default: return std::nullopt;
    }
}

/// Channels of each linear input (indexed by linear_input) of a Llama / BERT block.
using input_widths = std::array<std::size_t, 4>;
inline input_widths calibration_widths(const llama_config& c) {
    return {c.hidden, c.heads * c.head_dim, c.hidden, c.intermediate};
}
inline input_widths calibration_widths(const bert_config& c) { return {c.hidden, c.hidden, c.hidden, c.intermediate}; }

/// The activation observer that accumulates every (block, input)'s statistics on the backend
/// context `Ctx` (one stats_accumulator each). Not thread-safe (one forward at a time).
template <class Ctx>
class calibration_observer : public activation_observer {
public:
    /// Blocks [first, first + layers), input widths `w` in every block (`first` > 0: a
    /// sequential pass that records one block at a time, see run_blocks; other blocks' inputs
    /// are ignored).
    calibration_observer(Ctx& ctx, std::size_t layers, const input_widths& w, std::size_t chunk_rows = 512,
                         std::size_t first = 0)
        : first_(first), layers_(layers) {
        for (std::size_t l = 0; l < layers; ++l)
            for (auto in : all_linear_inputs) acc_.emplace_back(ctx, w[static_cast<std::size_t>(in)], false, chunk_rows);
    }
    calibration_observer(Ctx& ctx, const llama_config& c, std::size_t chunk_rows = 512)
        : calibration_observer(ctx, c.layers, calibration_widths(c), chunk_rows) {}
    void on_input(std::size_t layer, linear_input which, const float* rows, std::size_t count, std::size_t w) override {
        if (layer < first_ || layer >= first_ + layers_) return;
        auto& a = acc_.at((layer - first_) * 4 + static_cast<std::size_t>(which));
        if (w != a.channels())
            throw shape_error("calibration: " + calibration_input_name(layer, which) + " has " + std::to_string(w) +
                              " channels, expected " + std::to_string(a.channels()));
        if (a.add(rows, count, w) != status::ok && nonfinite_.empty()) nonfinite_ = calibration_input_name(layer, which);
    }
    /// The first input that received NaN/Inf activations ("" if none; such rows were not added).
    const std::string& nonfinite() const { return nonfinite_; }
    /// The statistics of (layer, input); the accumulator restarts.
    input_stats take(std::size_t layer, linear_input which) {
        return acc_.at((layer - first_) * 4 + static_cast<std::size_t>(which)).take();
    }

private:
    std::size_t first_ = 0, layers_ = 0;
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

/// The hidden states before block 0 of every window, [starts.size()·context, hidden] row-major
/// (window-major). Throws invalid_argument when a window leaves the stream or exceeds the
/// model's context.
inline std::vector<float> calibration_embeddings(const llama_model& model, const std::vector<int>& ids,
                                                 const std::vector<std::size_t>& starts, std::size_t context) {
    const auto& c = model.config();
    if (context > c.context)
        throw invalid_argument("calibration: windows of " + std::to_string(context) + " tokens exceed the model's context of " +
                               std::to_string(c.context));
    for (std::size_t w = 0; w < starts.size(); ++w)
        if (starts[w] + context > ids.size()) throw invalid_argument("calibration: window " + std::to_string(w) + " leaves the token stream");
    const std::size_t row = context * c.hidden;
    std::vector<float> hidden(starts.size() * row);
    for (std::size_t w = 0; w < starts.size(); ++w) {
        const auto x = model.embed_rows(ids.data() + starts[w], context);
        std::copy(x.begin(), x.end(), hidden.begin() + static_cast<std::ptrdiff_t>(w * row));
    }
    return hidden;
}

/// One block's statistics: block l runs over every window of `hidden` ([windows·context, hidden],
/// as calibration_embeddings lays it out) with a one-block calibration_observer. in_place: hidden
/// becomes block l's output; otherwise each window runs on a copy and hidden is unchanged.
/// Returns the statistics indexed by linear_input, or nothing with the input's name in *nonfinite
/// when one received NaN/Inf activations.
template <class Ctx>
std::vector<input_stats> observe_block(Ctx& ctx, llama_model& model, std::vector<float>& hidden, std::size_t context,
                                       std::size_t l, bool in_place, std::string& nonfinite) {
    const auto& c = model.config();
    const std::size_t row = context * c.hidden, windows = hidden.size() / row;
    calibration_observer<Ctx> obs(ctx, 1, calibration_widths(c), 512, l);
    kv_cache cache = model.make_cache(1, context);
    struct unset {
        llama_model& m;
        ~unset() { m.set_observer(nullptr); }
    } guard{model};
    model.set_observer(&obs);
    std::vector<float> x(in_place ? 0 : row);
    for (std::size_t w = 0; w < windows; ++w) {
        float* rows = hidden.data() + w * row;
        if (!in_place) {
            std::copy(rows, rows + row, x.begin());
            rows = x.data();
        }
        cache.length = 0;
        model.forward_blocks(rows, context, cache, l, l + 1);
    }
    model.set_observer(nullptr);
    if (!obs.nonfinite().empty()) {
        nonfinite = obs.nonfinite();
        return {};
    }
    std::vector<input_stats> st;
    for (auto in : all_linear_inputs) st.push_back(obs.take(l, in));
    return st;
}

/// Layer-streaming form of run_calibration for a Llama-family model: the statistics of the model
/// as loaded (not changed between blocks, unlike run_sequential_calibration), one block at a time.
/// The windows' hidden states ([count·context, hidden] floats: 64 × 512 tokens of Qwen2.5-1.5B
/// ≈ 0.2 GB) are kept; for l = 0 … L−1 block l runs in place over every window with a one-block
/// calibration_observer, and on_layer(l, stats) receives its statistics (indexed by
/// linear_input) before block l + 1 runs. Each block's rows reach its accumulators in the same
/// order as in run_calibration (window by window, through the same block code), so the sums are
/// the same. Memory: the model, the hidden states and one block's Grams.
/// Returns "" or, when an input received NaN/Inf activations, its name (calibration_input_name);
/// the pass stops at that block without calling on_layer for it. progress(done, total) counts
/// blocks. Throws invalid_argument as calibration_embeddings.
template <class Ctx>
std::string run_streaming_calibration(Ctx& ctx, llama_model& model, const std::vector<int>& ids,
                                      const std::vector<std::size_t>& starts, std::size_t context,
                                      const std::function<void(std::size_t, std::vector<input_stats>&)>& on_layer,
                                      const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    const std::size_t layers = model.config().layers;
    std::vector<float> hidden = calibration_embeddings(model, ids, starts, context);
    for (std::size_t l = 0; l < layers; ++l) {
        std::string bad;
        std::vector<input_stats> st = observe_block(ctx, model, hidden, context, l, true, bad);
        if (!bad.empty()) return bad;
        on_layer(l, st);
        if (progress) progress(l + 1, layers);
    }
    return {};
}

/// Sequential, layer-streaming calibration of a Llama-family model (the svd-llm-seq mode): the
/// windows' hidden states are kept between blocks ([count·context, hidden] floats, e.g. 75 MB for
/// 64 × 512 tokens of SmolLM2) and, for l = 0 … L−1,
///   1. block l runs over every window's hidden states with one block's calibration_observer:
///      its statistics are those `lowrank calibrate` measures on the model as it is now —
///      blocks < l already replaced, block l and above as loaded;
///   2. on_layer(l, stats) gets them (indexed by linear_input) and may replace block l's
///      linears (compress them);
///   3. block l runs again with its weights as they are now, giving the hidden states block
///      l + 1 sees.
/// Memory: the model, the hidden states and one block's four Grams; nothing else grows with the
/// depth. progress(done, total) counts block passes (2·L). Throws as run_calibration; a NaN/Inf
/// activation throws invalid_argument naming the input.
template <class Ctx>
void run_sequential_calibration(Ctx& ctx, llama_model& model, const std::vector<int>& ids,
                                const std::vector<std::size_t>& starts, std::size_t context,
                                const std::function<void(std::size_t, std::vector<input_stats>&)>& on_layer,
                                const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    const auto& c = model.config();
    const std::size_t row = context * c.hidden;
    std::vector<float> hidden = calibration_embeddings(model, ids, starts, context);
    for (std::size_t l = 0; l < c.layers; ++l) {
        std::string bad;
        std::vector<input_stats> st = observe_block(ctx, model, hidden, context, l, false, bad);
        if (!bad.empty()) throw invalid_argument("calibration: NaN/Inf activations at " + bad);
        if (progress) progress(2 * l + 1, 2 * c.layers);
        on_layer(l, st);
        kv_cache cache = model.make_cache(1, context);  // block l's value width may have changed
        for (std::size_t w = 0; w < starts.size(); ++w) {
            cache.length = 0;
            model.forward_blocks(hidden.data() + w * row, context, cache, l, l + 1);
        }
        if (progress) progress(2 * l + 2, 2 * c.layers);
    }
}

/// The BERT form of run_calibration: window w is [CLS] + stream[starts[w], starts[w] + context − 2)
/// + [SEP] (see the header comment), one unpadded sequence per forward. Throws invalid_argument
/// when context < 3, a window leaves the stream or exceeds max_position_embeddings.
inline void run_calibration(bert_model& model, activation_observer& obs, const std::vector<int>& stream, int cls, int sep,
                            const std::vector<std::size_t>& starts, std::size_t context,
                            const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    if (context < 3) throw invalid_argument("calibration: BERT windows need at least 3 tokens ([CLS] x [SEP])");
    if (context > model.config().max_positions)
        throw invalid_argument("calibration: windows of " + std::to_string(context) + " tokens exceed the model's " +
                               std::to_string(model.config().max_positions) + " positions");
    const std::size_t inner = context - 2;
    model.set_observer(&obs);
    struct unset {
        bert_model& m;
        ~unset() { m.set_observer(nullptr); }
    } guard{model};
    std::vector<int> ids(context);
    for (std::size_t w = 0; w < starts.size(); ++w) {
        if (starts[w] + inner > stream.size()) throw invalid_argument("calibration: window " + std::to_string(w) + " leaves the token stream");
        ids[0] = cls;
        std::copy(stream.begin() + static_cast<std::ptrdiff_t>(starts[w]),
                  stream.begin() + static_cast<std::ptrdiff_t>(starts[w] + inner), ids.begin() + 1);
        ids[context - 1] = sep;
        (void)model.forward(ids.data(), 1, context, &context);
        if (progress) progress(w + 1, starts.size());
    }
}

}  // namespace lowrank::runtime
