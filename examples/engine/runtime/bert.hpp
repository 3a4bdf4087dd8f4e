// BERT encoder forward pass (BERT, MiniLM), float32, after Hugging Face's modeling_bert:
//   h = LN(word[ids] + pos[0..T) + type[0])
//   per layer:  h = LN(h + attn_out(MHA(q(h), k(h), v(h), mask)))        (post-LN)
//               h = LN(h + output(gelu_erf(intermediate(h))))
//   sentence embedding = L2-normalise(mean of h over the unmasked tokens)   (sentence-transformers)
// Batched: B sequences padded to a common length T; padded keys are masked out of attention
// and out of the mean.
// Activation hook (runtime/activation_observer.hpp, as on the Llama forward): per block the
// observer sees attn (h, read by q/k/v), o (the attention context, read by attn-out), mlp (the
// post-attention LayerNorm output, read by intermediate) and down (gelu(intermediate), read by
// output) — all B·T rows, padded positions included (calibration runs unpadded windows).
#pragma once

#include "lowrank/model/family.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/activation_observer.hpp"
#include "runtime/linear.hpp"
#include "runtime/ops.hpp"
#include "runtime/weight_source.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::runtime {

struct bert_config {
    std::size_t vocab = 0, hidden = 0, intermediate = 0, layers = 0, heads = 0, max_positions = 512, type_vocab = 2;
    float ln_eps = 1e-12f;
};

struct bert_block {
    linear q, k, v, attn_out, intermediate, output;  ///< with biases
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;   ///< attention-output and output LayerNorms [hidden]
    /// The linear layer of a decomposable role; nullptr for a role the block does not have.
    linear* by_role(model::role r) {
        using R = model::role;
        switch (r) {
            case R::q: return &q;
            case R::k: return &k;
            case R::v: return &v;
            case R::attn_out: return &attn_out;
            case R::intermediate: return &intermediate;
            case R::output: return &output;
            default: return nullptr;
        }
    }
    linear* by_role(std::string_view name) {
        const auto r = model::parse_role(model::family::bert, name);
        return r ? by_role(*r) : nullptr;
    }
};

struct bert_weights {
    bert_config cfg;
    std::vector<float> word, position, token_type;  ///< [vocab|max_pos|type_vocab, hidden]
    std::vector<float> emb_ln_w, emb_ln_b;          ///< [hidden]
    std::vector<bert_block> blocks;

    /// Numbers held (factorised linear layers count their factors). The checkpoint's pooler is
    /// not loaded (the embeddings do not use it), so it is not counted here.
    std::size_t parameters() const { return count(false); }
    /// The same model with every linear layer dense (out·in + bias): the size before factorising.
    std::size_t dense_parameters() const { return count(true); }

private:
    std::size_t count(bool as_dense) const {
        auto lin = [as_dense](const linear& l) { return as_dense ? l.out * l.in + l.bias.size() : l.parameters(); };
        std::size_t n = word.size() + position.size() + token_type.size() + emb_ln_w.size() + emb_ln_b.size();
        for (const auto& b : blocks)
            n += lin(b.q) + lin(b.k) + lin(b.v) + lin(b.attn_out) + lin(b.intermediate) + lin(b.output) + b.ln1_w.size() +
                 b.ln1_b.size() + b.ln2_w.size() + b.ln2_b.size();
        return n;
    }
};

/// The hyperparameters in a BERT config.json (`where` names it in errors).
inline bert_config bert_config_from_hf(const nlohmann::json& j, const std::string& where) {
    // The family as the model layer reads it (model_type, else architectures[]); a config that
    // names neither is taken as BERT, as before.
    const auto fam = model::family_of_config(j);
    if (fam ? *fam != model::family::bert : j.contains("model_type"))
        throw io_error(where, "model_type is not bert (" + (fam ? std::string(model::to_string(*fam)) + " family"
                                                                  : j["model_type"].dump()) + ")");
    if (j.value("hidden_act", std::string("gelu")) != "gelu")
        throw io_error(where, "only hidden_act gelu (erf) is supported");
    bert_config c;
    try {
        c.vocab = j.at("vocab_size"), c.hidden = j.at("hidden_size"), c.intermediate = j.at("intermediate_size");
        c.layers = j.at("num_hidden_layers"), c.heads = j.at("num_attention_heads");
        c.max_positions = j.value("max_position_embeddings", 512), c.type_vocab = j.value("type_vocab_size", 2);
        c.ln_eps = j.value("layer_norm_eps", 1e-12f);
    } catch (const nlohmann::json::exception& e) {
        throw io_error(where, e.what());
    }
    if (c.heads == 0 || c.hidden % c.heads != 0) throw io_error(where, "hidden_size is not a multiple of the heads");
    return c;
}

/// Builds BERT weights of config `c` from `src` (names with or without the "bert." prefix,
/// LayerNorm as weight/bias or the old gamma/beta), checking every shape against `c`. Linear
/// layers come out dense or factorised, as `src` stores them.
inline bert_weights build_bert(const bert_config& c, const weight_source& src) {
    bert_weights w;
    w.cfg = c;
    auto name = [&](const std::string& n) { return src.has("bert." + n) ? "bert." + n : n; };
    auto load = [&](const std::string& n, const shape_t& shape) { return need_tensor(src, name(n), shape); };
    auto ln = [&](const std::string& p, std::vector<float>& wt, std::vector<float>& b) {
        const bool old = src.has(name(p + ".gamma"));
        wt = load(p + (old ? ".gamma" : ".weight"), {c.hidden});
        b = load(p + (old ? ".beta" : ".bias"), {c.hidden});
    };
    w.word = load("embeddings.word_embeddings.weight", {c.vocab, c.hidden});
    w.position = load("embeddings.position_embeddings.weight", {c.max_positions, c.hidden});
    w.token_type = load("embeddings.token_type_embeddings.weight", {c.type_vocab, c.hidden});
    ln("embeddings.LayerNorm", w.emb_ln_w, w.emb_ln_b);
    const std::size_t h = c.hidden, I = c.intermediate;
    for (std::size_t l = 0; l < c.layers; ++l) {
        const std::string p = "encoder.layer." + std::to_string(l) + ".";
        auto lin = [&](const std::string& n, std::size_t out, std::size_t inn) {
            return need_linear(src, name(p + n + ".weight"), out, inn, name(p + n + ".bias"), true);
        };
        bert_block b;
        b.q = lin("attention.self.query", h, h);
        b.k = lin("attention.self.key", h, h);
        b.v = lin("attention.self.value", h, h);
        b.attn_out = lin("attention.output.dense", h, h);
        b.intermediate = lin("intermediate.dense", I, h);
        b.output = lin("output.dense", h, I);
        ln(p + "attention.output.LayerNorm", b.ln1_w, b.ln1_b);
        ln(p + "output.LayerNorm", b.ln2_w, b.ln2_b);
        w.blocks.push_back(std::move(b));
    }
    return w;
}

/// BERT weights from a Hugging Face directory (config.json + model.safetensors).
inline bert_weights load_bert_hf(const std::string& dir) {
    const std::string cp = (std::filesystem::path(dir) / "config.json").string();
    if (!std::filesystem::exists(cp)) throw io_error(dir, "no config.json");
    const model::model_source m = model::model_source::open(dir);
    return build_bert(bert_config_from_hf(*m.config(), cp), weight_source_of(m));
}

class bert_model {
public:
    explicit bert_model(bert_weights w, int threads = 2) : w_(std::move(w)), ex_(threads) {}
    const bert_config& config() const { return w_.cfg; }
    bert_weights& weights() { return w_; }
    exec_context& exec() { return ex_; }
    /// Activation hook; nullptr (the default) turns it off.
    void set_observer(activation_observer* o) { obs_ = o; }

    /// Hidden states [B·T, hidden] for B sequences of length T (ids row-major, `lengths[b]` ≤ T
    /// real tokens each; the rest is padding).
    std::vector<float> forward(const int* ids, std::size_t B, std::size_t T, const std::size_t* lengths) {
        const auto& c = w_.cfg;
        const std::size_t h = c.hidden, n = B * T, H = c.heads, d = h / H;
        if (T > c.max_positions) throw invalid_argument("bert forward: sequence longer than max_position_embeddings");
        std::vector<float> x(n * h), q(n * h), k(n * h), v(n * h), att(n * h), tmp(n * h), ff(n * c.intermediate);
        std::vector<float> scores(T * T), scratch;
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t t = 0; t < T; ++t) {
                const auto id = static_cast<std::size_t>(ids[b * T + t]);
                if (id >= c.vocab) throw invalid_argument("bert forward: token id out of range");
                float* xr = x.data() + (b * T + t) * h;
                for (std::size_t i = 0; i < h; ++i)
                    xr[i] = w_.word[id * h + i] + w_.position[t * h + i] + w_.token_type[i];
            }
        layer_norm(x.data(), w_.emb_ln_w.data(), w_.emb_ln_b.data(), n, h, c.ln_eps);
        const float scale = 1.0f / std::sqrt(static_cast<float>(d));
        for (std::size_t l = 0; l < w_.blocks.size(); ++l) {
            const bert_block& blk = w_.blocks[l];
            if (obs_) obs_->on_input(l, linear_input::attn, x.data(), n, h);
            blk.q.forward(ex_, x.data(), n, q.data(), scratch);
            blk.k.forward(ex_, x.data(), n, k.data(), scratch);
            blk.v.forward(ex_, x.data(), n, v.data(), scratch);
            for (std::size_t b = 0; b < B; ++b) {
                const std::size_t len = lengths[b];
                for (std::size_t hh = 0; hh < H; ++hh) {
                    const std::size_t off = b * T * h + hh * d;
                    gemm(ex_, op::none, op::trans, T, len, d, scale, q.data() + off, h, k.data() + off, h, 0.f,
                         scores.data(), len);
                    for (std::size_t t = 0; t < T; ++t) softmax(scores.data() + t * len, len);
                    gemm(ex_, op::none, op::none, T, d, len, 1.f, scores.data(), len, v.data() + off, h, 0.f,
                         att.data() + off, h);
                }
            }
            if (obs_) obs_->on_input(l, linear_input::o, att.data(), n, h);
            blk.attn_out.forward(ex_, att.data(), n, tmp.data(), scratch);
            for (std::size_t i = 0; i < n * h; ++i) x[i] += tmp[i];
            layer_norm(x.data(), blk.ln1_w.data(), blk.ln1_b.data(), n, h, c.ln_eps);
            if (obs_) obs_->on_input(l, linear_input::mlp, x.data(), n, h);
            blk.intermediate.forward(ex_, x.data(), n, ff.data(), scratch);
            for (auto& f : ff) f = gelu_erf(f);
            if (obs_) obs_->on_input(l, linear_input::down, ff.data(), n, c.intermediate);
            blk.output.forward(ex_, ff.data(), n, tmp.data(), scratch);
            for (std::size_t i = 0; i < n * h; ++i) x[i] += tmp[i];
            layer_norm(x.data(), blk.ln2_w.data(), blk.ln2_b.data(), n, h, c.ln_eps);
        }
        return x;
    }

    /// Sentence embeddings [B, hidden]: mean over real tokens, then L2-normalised.
    std::vector<float> embed(const std::vector<std::vector<int>>& batch, bool normalise = true) {
        const std::size_t B = batch.size(), h = w_.cfg.hidden;
        std::size_t T = 0;
        for (const auto& s : batch) T = std::max(T, s.size());
        std::vector<int> ids(B * T, 0);
        std::vector<std::size_t> lengths(B);
        for (std::size_t b = 0; b < B; ++b) {
            std::copy(batch[b].begin(), batch[b].end(), ids.begin() + static_cast<std::ptrdiff_t>(b * T));
            lengths[b] = batch[b].size();
        }
        const auto x = forward(ids.data(), B, T, lengths.data());
        std::vector<float> out(B * h, 0.f);
        for (std::size_t b = 0; b < B; ++b) {
            float* o = out.data() + b * h;
            for (std::size_t t = 0; t < lengths[b]; ++t)
                for (std::size_t i = 0; i < h; ++i) o[i] += x[(b * T + t) * h + i];
            double norm = 0;
            for (std::size_t i = 0; i < h; ++i) {
                o[i] /= float(lengths[b]);
                norm += double(o[i]) * o[i];
            }
            if (normalise && norm > 0) {
                const float s = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-12));
                for (std::size_t i = 0; i < h; ++i) o[i] *= s;
            }
        }
        return out;
    }

private:
    bert_weights w_;
    exec_context ex_;
    activation_observer* obs_ = nullptr;
};

}  // namespace lowrank::runtime
