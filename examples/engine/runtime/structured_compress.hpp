// The structured compressor applied to loaded Llama-family weights, in memory
// (include/lowrank/compress/structured.hpp has the maths): for a kept fraction K of the linear
// parameters, the uniform plan (structured_plan.hpp) fixes every layer's MLP channel count I′
// and value head dim r; then, layer by layer,
//   MLP:  OBS order of down_proj's input channels on the down-input Gram, keep the last I′,
//         least-squares refit of down_proj on them, gate/up keep the same rows;
//   VO:   per kv group, project the values to r dims and refit o_proj on the o-input Gram.
// q/k, norms, embedding and head are untouched. The result runs in llama_model directly
// (per-layer sizes from the weights) and is written as dense tensors of the new shapes; the
// factorised-file loader reads the sizes back from the shapes (load_options::shapes_from_tensors).
//
// Statistics come from a callback (layer, input) → input_stats with input "o_in" (the o_proj
// input, [H·d]) or "down_in" (the down_proj input, [I]) — e.g. a stats_file's
// "model.layers.<l>.<input>" — so only one layer's Grams are held at a time. Single-stream
// (dense) statistics are used; a two-stream file's cross terms are ignored.
#pragma once

#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/compress/stats.hpp"
#include "lowrank/compress/structured.hpp"
#include "runtime/llama.hpp"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace lowrank::runtime {

struct structured_compress_options {
    double keep = 0.8;                       ///< K ∈ (0, 1]: kept fraction of the linear parameters
    channel_selection_options selection{};   ///< OBS ridge and block size
    vo_options vo{};
    int threads = 1;                         ///< BLAS threads
};

struct structured_layer_report {
    std::size_t layer = 0, mlp_keep = 0, value_dim = 0;
    double mlp_rel_error = 0;  ///< sqrt(‖W′Z_S − WZ‖² / ‖WZ‖²) of down_proj on the calibration data
    double vo_rel_error = 0;   ///< the same for o_proj after the value reduction
};

struct structured_compress_report {
    structured_plan plan;
    std::vector<structured_layer_report> layers;
};

using structured_stats_fn = std::function<input_stats(std::size_t layer, const std::string& input)>;

/// The linear shape of loaded weights (every layer must still have the config's sizes).
inline llama_linear_shape linear_shape_of(const llama_weights& w) {
    const auto& c = w.cfg;
    return {c.layers, c.hidden, c.intermediate, c.heads, c.kv_heads, c.head_dim};
}

/// Compresses `w` in place (see the header comment). Every linear of every layer must be dense
/// float32 with the configuration's sizes (not factorised, not bf16, not already pruned):
/// invalid_argument otherwise. Statistics of the wrong size: shape_error; a numerical failure
/// (NaN/Inf statistics, an indefinite Gram beyond the ridge) → lowrank::error naming the layer.
/// `progress(done, total)` is called after each layer.
inline structured_compress_report compress_structured(llama_weights& w, const structured_stats_fn& stats,
                                                      const structured_compress_options& opt,
                                                      const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    using B = xtensor_backend;
    const auto& c = w.cfg;
    const llama_linear_shape shape = linear_shape_of(w);
    structured_compress_report rep;
    rep.plan = plan_structured_uniform(shape, opt.keep);
    const std::size_t h = c.hidden, I = c.intermediate, d = c.head_dim, H = c.heads, G = c.kv_heads;
    for (std::size_t l = 0; l < c.layers; ++l) {
        const llama_block& b = w.blocks.at(l);
        for (const linear* x : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down})
            if (x->form != linear_form::dense || x->is_compact())
                throw invalid_argument("compress_structured: layer " + std::to_string(l) +
                                       " has a factorised or bf16 linear; the structured compressor needs the dense float32 model");
        if (b.gate.out != I || b.up.out != I || b.down.in != I || b.v.out != G * d || b.o.in != H * d)
            throw invalid_argument("compress_structured: layer " + std::to_string(l) + " is already pruned");
    }
    B::context ctx(opt.threads);
    auto fail = [](std::size_t l, const char* what, status s) {
        throw error("compress_structured: layer " + std::to_string(l) + " " + what + ": " + to_string(s));
    };
    for (std::size_t l = 0; l < c.layers; ++l) {
        llama_block& b = w.blocks[l];
        structured_layer_report lr{l, rep.plan.mlp_keep, rep.plan.value_dim, 0, 0};
        // MLP.
        if (rep.plan.mlp_keep < I) {
            const input_stats sd = stats(l, "down_in");
            sd.validate_shape("down_in statistics of layer " + std::to_string(l));
            if (sd.channels != I)
                throw shape_error("compress_structured: layer " + std::to_string(l) + " down_in statistics have " +
                                  std::to_string(sd.channels) + " channels, the model " + std::to_string(I));
            const auto down = B::upload<float>(ctx, b.down.w.data(), {h, I});
            const std::span<const double> g(sd.gram);
            channel_selection_options sel = opt.selection;  // only the kept set is needed: stop there
            sel.stop_at = rep.plan.mlp_keep;
            const auto ord = obs_channel_order(ctx, down, g, {}, sel);
            if (ord.status != status::ok) fail(l, "MLP channel selection", ord.status);
            const auto kept = ord.kept(rep.plan.mlp_keep);
            const auto rf = mlp_refit(ctx, down, g, kept, {}, opt.selection);
            if (rf.status != status::ok) fail(l, "down_proj refit", rf.status);
            lr.mlp_rel_error = rf.total_energy > 0 ? std::sqrt(std::max(rf.output_error, 0.0) / rf.total_energy) : 0.0;
            const std::size_t k = kept.size();
            std::vector<float> gate(k * h), up(k * h), dn(h * k);
            for (std::size_t i = 0; i < k; ++i) {
                std::copy_n(b.gate.w.begin() + long(kept[i] * h), h, gate.begin() + long(i * h));
                std::copy_n(b.up.w.begin() + long(kept[i] * h), h, up.begin() + long(i * h));
            }
            B::download(ctx, rf.down, dn.data());
            auto pick_bias = [&](const std::vector<float>& bias) {
                std::vector<float> o;
                if (!bias.empty())
                    for (std::size_t j : kept) o.push_back(bias[j]);
                return o;
            };
            b.gate = linear::dense(std::move(gate), k, h, pick_bias(b.gate.bias));
            b.up = linear::dense(std::move(up), k, h, pick_bias(b.up.bias));
            b.down = linear::dense(std::move(dn), h, k, b.down.bias);
        }
        // VO.
        if (rep.plan.value_dim < d) {
            const input_stats so = stats(l, "o_in");
            so.validate_shape("o_in statistics of layer " + std::to_string(l));
            if (so.channels != H * d)
                throw shape_error("compress_structured: layer " + std::to_string(l) + " o_in statistics have " +
                                  std::to_string(so.channels) + " channels, the model " + std::to_string(H * d));
            const auto v = B::upload<float>(ctx, b.v.w.data(), {G * d, h});
            const auto o = B::upload<float>(ctx, b.o.w.data(), {h, H * d});
            const std::vector<double> vb(b.v.bias.begin(), b.v.bias.end());
            const auto r = vo_reduce(ctx, v, o, std::span<const double>(so.gram), attention_heads{H, G, d},
                                     rep.plan.value_dim, std::span<const double>(vb), opt.vo);
            if (r.status != status::ok) fail(l, "value reduction", r.status);
            lr.vo_rel_error = r.total_energy > 0 ? std::sqrt(std::max(r.output_error, 0.0) / r.total_energy) : 0.0;
            const std::size_t rv = rep.plan.value_dim;
            std::vector<float> nv(G * rv * h), no(h * H * rv);
            B::download(ctx, r.v, nv.data());
            B::download(ctx, r.o, no.data());
            b.v = linear::dense(std::move(nv), G * rv, h, std::vector<float>(r.v_bias.begin(), r.v_bias.end()));
            b.o = linear::dense(std::move(no), h, H * rv, b.o.bias);
        }
        rep.layers.push_back(lr);
        if (progress) progress(l + 1, c.layers);
    }
    return rep;
}

}  // namespace lowrank::runtime
