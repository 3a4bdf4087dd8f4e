// Llama-family decoder forward pass (Llama, SmolLM2, Mistral-style; Qwen2 with q/k/v biases),
// float32, after Hugging Face's modeling_llama:
//   h = embed(tokens)
//   per block:  h += o( attn( rope(q(rms(h))), rope(k(rms(h))), v(rms(h)) ) )      (GQA, causal)
//               h += down( silu(gate(rms(h))) ⊙ up(rms(h)) )
//   logits = lm_head(rms(h))        (lm_head = embed when tied)
// Weights are in Hugging Face layout (q/k rows NOT in llama.cpp's permuted order); RoPE uses the
// rotate-half convention. Batched: `forward` takes B sequences of T new tokens each, all at the
// same position (pos0 … pos0+T−1), and runs every linear as one GEMM over the B·T rows; the KV
// cache holds B sequences. Prefill = forward with T = prompt length; decode = T = 1.
//
// Structured (pruned) models: each layer's MLP intermediate size I_l and value head dim dv_l are
// those of its weights (gate/up [I_l, h], down [h, I_l], v [Hkv·dv_l, h], o [h, H·dv_l]; see
// compress/structured.hpp), not the config's — config.intermediate / head_dim are the dense
// sizes (q/k always use head_dim). Head h's value output is Σ_j softmax(q_h·k_j)_j v_j^{g(h)} in
// dv_l dimensions; the KV cache stores dv_l values per kv head in layer l.
#pragma once

#include "lowrank/model/family.hpp"
#include "runtime/activation_observer.hpp"
#include "runtime/linear.hpp"
#include "runtime/ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::runtime {

struct llama_config {
    std::size_t vocab = 0, hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
    std::size_t context = 2048;  ///< positions the RoPE table (and the default cache) covers
    double rope_theta = 10000.0;
    float rms_eps = 1e-5f;
    bool tied = true;
};

struct llama_block {
    std::vector<float> attn_norm, ffn_norm;  ///< [hidden]
    /// This layer's MLP intermediate size (gate.out) and value head dim (v.out / kv_heads).
    std::size_t intermediate() const { return gate.out; }
    std::size_t value_dim(std::size_t kv_heads) const { return kv_heads ? v.out / kv_heads : 0; }
    linear q, k, v, o;                        ///< q [H·d, h], k/v [Hkv·d, h] (+ bias for Qwen2), o [h, H·d]
    linear gate, up, down;                    ///< gate/up [I, h], down [h, I]
    /// The linear layer of a decomposable role; nullptr for a role the block does not have.
    linear* by_role(model::role r) {
        using R = model::role;
        switch (r) {
            case R::q: return &q;
            case R::k: return &k;
            case R::v: return &v;
            case R::o: return &o;
            case R::gate: return &gate;
            case R::up: return &up;
            case R::down: return &down;
            default: return nullptr;
        }
    }
    linear* by_role(std::string_view name) {
        const auto r = model::parse_role(model::family::llama, name);
        return r ? by_role(*r) : nullptr;
    }
};

struct llama_weights {
    llama_config cfg;
    std::vector<float> embed;       ///< [vocab, hidden] (empty after to_bf16()/to_q8(): see embed16/embed8)
    bf16_matrix embed16;            ///< bf16 embedding (and tied head) after to_bf16()
    q8_matrix embed8;               ///< 8-bit embedding (and tied head) after to_q8()
    std::vector<llama_block> blocks;
    std::vector<float> final_norm;  ///< [hidden]
    linear lm_head;                 ///< untied: [vocab, hidden]; tied: empty (embed is used)

    std::size_t parameters() const {
        std::size_t n = embed.size() + embed16.size() + embed8.size() + final_norm.size() + (cfg.tied ? 0 : lm_head.parameters());
        for (const auto& b : blocks)
            n += b.attn_norm.size() + b.ffn_norm.size() + b.q.parameters() + b.k.parameters() + b.v.parameters() +
                 b.o.parameters() + b.gate.parameters() + b.up.parameters() + b.down.parameters();
        return n;
    }

    /// Bytes of the weights as stored (float32, or the compact matrices after to_bf16()/to_q8()).
    std::size_t bytes() const {
        std::size_t n = (embed.size() + final_norm.size()) * sizeof(float) + embed16.size() * sizeof(std::uint16_t) +
                        embed8.bytes() + (cfg.tied ? 0 : lm_head.bytes());
        for (const auto& b : blocks)
            n += (b.attn_norm.size() + b.ffn_norm.size()) * sizeof(float) + b.q.bytes() + b.k.bytes() + b.v.bytes() +
                 b.o.bytes() + b.gate.bytes() + b.up.bytes() + b.down.bytes();
        return n;
    }

    /// Moves every weight matrix (embedding/tied head, all linears, untied head) to bf16;
    /// norms and biases stay float32. Factorise (apply_plan) first: bf16 layers cannot be.
    void to_bf16() {
        if (!embed.empty()) embed16 = bf16_matrix::from_rows(embed.data(), cfg.vocab, cfg.hidden), embed = std::vector<float>();
        for (auto& b : blocks)
            for (linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) l->to_bf16();
        if (!cfg.tied) lm_head.to_bf16();
    }
    /// Moves every weight matrix to 8-bit block storage (runtime/q8.hpp), as to_bf16() does to bf16.
    void to_q8() {
        if (!embed.empty()) embed8 = q8_matrix::from_rows(embed.data(), cfg.vocab, cfg.hidden), embed = std::vector<float>();
        for (auto& b : blocks)
            for (linear* l : {&b.q, &b.k, &b.v, &b.o, &b.gate, &b.up, &b.down}) l->to_q8();
        if (!cfg.tied) lm_head.to_q8();
    }
    /// Stores the weight matrices as `format`: "f32" (unchanged), "bf16" (to_bf16) or "q8"
    /// (to_q8); invalid_argument for anything else.
    void store_as(std::string_view format) {
        if (format == "bf16") to_bf16();
        else if (format == "q8") to_q8();
        else if (format != "f32") throw invalid_argument("weight storage '" + std::string(format) + "': expected f32, bf16 or q8");
    }
};

/// Removes the blocks `layers` (0-based, distinct, each < cfg.layers) from the model: the residual
/// stream passes each removed block unchanged (h ← h instead of h ← h + attn(h), h ← h + mlp(h)),
/// i.e. the result is the model built without those blocks, with cfg.layers reduced to match and
/// the blocks' parameters freed. Throws invalid_argument (naming the index) otherwise.
inline void remove_blocks(llama_weights& w, const std::vector<std::size_t>& layers) {
    std::vector<bool> drop(w.blocks.size(), false);
    for (std::size_t l : layers) {
        if (l >= w.blocks.size())
            throw invalid_argument("remove_blocks: layer " + std::to_string(l) + " is out of range (the model has " +
                                   std::to_string(w.blocks.size()) + " blocks, 0-based)");
        if (drop[l]) throw invalid_argument("remove_blocks: layer " + std::to_string(l) + " is listed twice");
        drop[l] = true;
    }
    std::vector<llama_block> kept;
    for (std::size_t l = 0; l < w.blocks.size(); ++l)
        if (!drop[l]) kept.push_back(std::move(w.blocks[l]));
    w.blocks = std::move(kept);
    w.cfg.layers = w.blocks.size();
}

/// KV cache for `batch` sequences of up to `capacity` positions: keys [layer][b][pos][Hkv·d],
/// values [layer][b][pos][v_width[layer]] (Hkv·dv_l: per layer for value-reduced models).
struct kv_cache {
    std::size_t batch = 0, capacity = 0, width = 0, layers = 0, length = 0;
    std::vector<std::size_t> v_width, v_offset;  ///< per layer: value width and Σ of the widths below
    std::vector<float> k, v;
    kv_cache() = default;
    /// Every layer with the config's value width Hkv·head_dim.
    kv_cache(const llama_config& c, std::size_t batch_, std::size_t capacity_)
        : kv_cache(c, std::vector<std::size_t>(c.layers, c.kv_heads * c.head_dim), batch_, capacity_) {}
    /// Layer l with value width v_widths[l].
    kv_cache(const llama_config& c, std::vector<std::size_t> v_widths, std::size_t batch_, std::size_t capacity_)
        : batch(batch_), capacity(capacity_), width(c.kv_heads * c.head_dim), layers(c.layers),
          v_width(std::move(v_widths)), v_offset(layers + 1, 0), k(layers * batch * capacity * width) {
        if (v_width.size() != layers) throw invalid_argument("kv_cache: one value width per layer is needed");
        for (std::size_t l = 0; l < layers; ++l) v_offset[l + 1] = v_offset[l] + v_width[l];
        v.resize(v_offset[layers] * batch * capacity);
    }
    float* k_at(std::size_t l, std::size_t b) { return k.data() + (l * batch + b) * capacity * width; }
    float* v_at(std::size_t l, std::size_t b) {
        return v.data() + (v_offset[l] * batch + b * v_width[l]) * capacity;
    }
    const float* k_at(std::size_t l, std::size_t b) const { return const_cast<kv_cache*>(this)->k_at(l, b); }
    const float* v_at(std::size_t l, std::size_t b) const { return const_cast<kv_cache*>(this)->v_at(l, b); }
};

class llama_model {
public:
    explicit llama_model(llama_weights w, int threads = 2)
        : llama_model(std::make_shared<llama_weights>(std::move(w)), threads) {}

    /// A second model on the same weights (shared, not copied) with its own scratch buffers and
    /// `threads` threads: one per worker, to run documents in parallel (each forward call on its
    /// own KV cache). The weights must not change while more than one model uses them. `threads`
    /// also sets the BLAS library's process-wide thread count (exec_context), so give every
    /// worker the same count.
    llama_model sharing_weights(int threads) const { return llama_model(w_, threads); }

    const llama_config& config() const { return w_->cfg; }
    llama_weights& weights() { return *w_; }
    const llama_weights& weights() const { return *w_; }
    exec_context& exec() { return ex_; }
    /// Activation hook (runtime/activation_observer.hpp); nullptr (the default) turns it off.
    void set_observer(activation_observer* o) { obs_ = o; }

    kv_cache make_cache(std::size_t batch = 1, std::size_t capacity = 0) const {
        std::vector<std::size_t> vw;
        for (const auto& b : w_->blocks) vw.push_back(b.v.out);
        if (vw.size() != w_->cfg.layers) vw.assign(w_->cfg.layers, w_->cfg.kv_heads * w_->cfg.head_dim);
        return kv_cache(w_->cfg, std::move(vw), batch, capacity ? capacity : w_->cfg.context);
    }

    /// Runs tokens [B][T] (row-major, B = cache.batch) at positions cache.length … +T−1,
    /// appends to the cache, and returns logits: all_logits ? [B·T, vocab] : [B, vocab] (the
    /// last position of each sequence).
    std::vector<float> forward(const int* tokens, std::size_t T, kv_cache& cache, bool all_logits = false) {
        const auto& c = w_->cfg;
        const std::size_t B = cache.batch, n = B * T, h = c.hidden;
        prepare(T, cache);
        embed_into(tokens, n, x_.data());
        run_blocks(T, cache, 0, c.layers);
        cache.length += T;
        // Final norm on the rows whose logits are wanted.
        const std::size_t rows = all_logits ? n : B;
        for (std::size_t r = 0; r < rows; ++r) {
            const std::size_t src = all_logits ? r : r * T + (T - 1);
            rms_norm(x_.data() + src * h, w_->final_norm.data(), xn_.data() + r * h, 1, h, c.rms_eps);
        }
        std::vector<float> logits(rows * c.vocab);
        if (c.tied && !w_->embed16.empty())
            matmul_nt_bf16(ex_, xn_.data(), h, rows, w_->embed16, logits.data(), c.vocab, scratch_);
        else if (c.tied && !w_->embed8.empty())
            matmul_nt_q8(ex_, xn_.data(), h, rows, w_->embed8, logits.data(), c.vocab, scratch_);
        else if (c.tied)
            gemm(ex_, op::none, op::trans, rows, c.vocab, h, 1.f, xn_.data(), h, w_->embed.data(), h, 0.f, logits.data(),
                 c.vocab);
        else
            w_->lm_head.forward(ex_, xn_.data(), rows, logits.data(), scratch_);
        return logits;
    }

    /// Block-level pass (sequential calibration, runtime/calibration.hpp): runs blocks [l0, l1)
    /// on the hidden states x [B·T, hidden] (B = cache.batch; row-major, sequence-major) in
    /// place, at positions cache.length … +T−1, writing those blocks' keys/values into the
    /// cache. cache.length is NOT advanced (forward() does that once all blocks ran), so a
    /// window's blocks can be run one call at a time. The observer sees blocks l0…l1−1.
    void forward_blocks(float* x, std::size_t T, kv_cache& cache, std::size_t l0, std::size_t l1) {
        const auto& c = w_->cfg;
        if (l0 > l1 || l1 > c.layers) throw invalid_argument("llama forward_blocks: block range out of bounds");
        const std::size_t n = cache.batch * T, h = c.hidden;
        prepare(T, cache);
        std::memcpy(x_.data(), x, n * h * sizeof(float));
        run_blocks(T, cache, l0, l1);
        std::memcpy(x, x_.data(), n * h * sizeof(float));
    }
    /// The hidden states before block 0 of `count` tokens: their embedding rows [count, hidden].
    std::vector<float> embed_rows(const int* tokens, std::size_t count) const {
        std::vector<float> x(count * w_->cfg.hidden);
        embed_into(tokens, count, x.data());
        return x;
    }

    /// Σ log p(continuation | context) and per-token log-probabilities (natural log).
    struct score_result {
        double total = 0;
        std::vector<double> per_token;
        std::size_t greedy_matches = 0;  ///< continuation tokens that are the argmax
    };
    score_result score(const std::vector<int>& context, const std::vector<int>& continuation) {
        if (context.empty()) throw invalid_argument("score: empty context");
        std::vector<int> all(context);
        all.insert(all.end(), continuation.begin(), continuation.end());
        kv_cache cache = make_cache(1, all.size());
        const auto logits = forward(all.data(), all.size() - 1, cache, true);
        score_result r;
        const std::size_t V = w_->cfg.vocab;
        for (std::size_t i = 0; i < continuation.size(); ++i) {
            const float* row = logits.data() + (context.size() - 1 + i) * V;
            const double lp = double(row[continuation[i]]) - log_sum_exp(row, V);
            r.per_token.push_back(lp);
            r.total += lp;
            std::size_t arg = 0;
            for (std::size_t j = 1; j < V; ++j) if (row[j] > row[arg]) arg = j;
            r.greedy_matches += arg == static_cast<std::size_t>(continuation[i]);
        }
        return r;
    }

private:
    void embed_into(const int* tokens, std::size_t count, float* x) const {
        const auto& c = w_->cfg;
        const std::size_t h = c.hidden;
        for (std::size_t i = 0; i < count; ++i) {
            const auto t = static_cast<std::size_t>(tokens[i]);
            if (t >= c.vocab) throw invalid_argument("llama forward: token id out of range");
            if (!w_->embed16.empty())
                w_->embed16.widen_rows(t, t + 1, x + i * h);
            else if (!w_->embed8.empty())
                w_->embed8.widen_rows(t, t + 1, x + i * h);
            else
                std::memcpy(x + i * h, w_->embed.data() + t * h, h * sizeof(float));
        }
    }
    /// Checks T and the cache against the model and sizes the scratch buffers.
    void prepare(std::size_t T, const kv_cache& cache) {
        const auto& c = w_->cfg;
        const std::size_t B = cache.batch, n = B * T, h = c.hidden, d = c.head_dim;
        const std::size_t qd = c.heads * d, kvd = c.kv_heads * d, pos0 = cache.length;
        if (pos0 + T > cache.capacity || pos0 + T > rope_.max_pos)
            throw invalid_argument("llama forward: sequence exceeds the context (" + std::to_string(cache.capacity) + ")");
        if (cache.v_width.size() != c.layers) throw invalid_argument("llama forward: the cache has the wrong layer count");
        std::size_t max_inter = 0, max_dv = 0;  // scratch for the widest layer
        for (std::size_t l = 0; l < c.layers; ++l) {
            const llama_block& blk = w_->blocks[l];
            if (cache.v_width[l] != blk.v.out)
                throw invalid_argument("llama forward: the cache's value width of layer " + std::to_string(l) +
                                       " does not match the model (make the cache with make_cache)");
            max_inter = std::max(max_inter, blk.intermediate());
            max_dv = std::max(max_dv, blk.value_dim(c.kv_heads));
        }
        x_.resize(n * h), xn_.resize(n * h), q_.resize(n * qd), k_.resize(n * kvd), v_.resize(n * c.kv_heads * max_dv);
        att_.resize(n * c.heads * max_dv), ff_.resize(2 * n * max_inter), tmp_.resize(n * h);
        scores_.resize(T * (pos0 + T));
    }

    /// Blocks [l0, l1) on x_ (prepare() called), positions cache.length … +T−1.
    void run_blocks(std::size_t T, kv_cache& cache, std::size_t l0, std::size_t l1) {
        const auto& c = w_->cfg;
        const std::size_t B = cache.batch, n = B * T, h = c.hidden, d = c.head_dim;
        const std::size_t qd = c.heads * d, kvd = c.kv_heads * d, pos0 = cache.length;
        const std::size_t S = pos0 + T;  // keys visible to the last query
        const float scale = 1.0f / std::sqrt(static_cast<float>(d));
        const std::size_t group = c.heads / c.kv_heads;
        for (std::size_t l = l0; l < l1; ++l) {
            const llama_block& blk = w_->blocks[l];
            const std::size_t dv = blk.value_dim(c.kv_heads), vd = c.kv_heads * dv, od = c.heads * dv;
            const std::size_t inter = blk.intermediate();
            rms_norm(x_.data(), blk.attn_norm.data(), xn_.data(), n, h, c.rms_eps);
            if (obs_) obs_->on_input(l, linear_input::attn, xn_.data(), n, h);
            blk.q.forward(ex_, xn_.data(), n, q_.data(), scratch_);
            blk.k.forward(ex_, xn_.data(), n, k_.data(), scratch_);
            blk.v.forward(ex_, xn_.data(), n, v_.data(), scratch_);
            for (std::size_t b = 0; b < B; ++b)
                for (std::size_t t = 0; t < T; ++t) {
                    const std::size_t row = b * T + t;
                    rope_.apply(q_.data() + row * qd, c.heads, pos0 + t);
                    rope_.apply(k_.data() + row * kvd, c.kv_heads, pos0 + t);
                    std::memcpy(cache.k_at(l, b) + (pos0 + t) * kvd, k_.data() + row * kvd, kvd * sizeof(float));
                    std::memcpy(cache.v_at(l, b) + (pos0 + t) * vd, v_.data() + row * vd, vd * sizeof(float));
                }
            for (std::size_t b = 0; b < B; ++b) {
                const float* kc = cache.k_at(l, b);
                const float* vc = cache.v_at(l, b);
                for (std::size_t hh = 0; hh < c.heads; ++hh) {
                    const std::size_t g = hh / group;
                    const float* qh = q_.data() + b * T * qd + hh * d;
                    if (T == 1) {  // decode: a GEMV per head is cheaper as plain loops than BLAS calls
                        float* s = scores_.data();
                        for (std::size_t j = 0; j < S; ++j) {
                            const float* kj = kc + j * kvd + g * d;
                            float dot = 0;
                            for (std::size_t i = 0; i < d; ++i) dot += qh[i] * kj[i];
                            s[j] = dot * scale;
                        }
                        softmax(s, S);
                        float* o = att_.data() + b * od + hh * dv;
                        std::fill(o, o + dv, 0.f);
                        for (std::size_t j = 0; j < S; ++j) {
                            const float* vj = vc + j * vd + g * dv;
                            for (std::size_t i = 0; i < dv; ++i) o[i] += s[j] * vj[i];
                        }
                        continue;
                    }
                    // scores[T, S] = Q_h · K_gᵀ · scale, causal mask, softmax, · V_g
                    gemm(ex_, op::none, op::trans, T, S, d, scale, qh, qd, kc + g * d, kvd, 0.f, scores_.data(), S);
                    for (std::size_t t = 0; t < T; ++t) {
                        float* row = scores_.data() + t * S;
                        const std::size_t visible = pos0 + t + 1;
                        softmax(row, visible);
                        std::fill(row + visible, row + S, 0.f);
                    }
                    gemm(ex_, op::none, op::none, T, dv, S, 1.f, scores_.data(), S, vc + g * dv, vd, 0.f,
                         att_.data() + b * T * od + hh * dv, od);
                }
            }
            if (obs_) obs_->on_input(l, linear_input::o, att_.data(), n, od);
            blk.o.forward(ex_, att_.data(), n, tmp_.data(), scratch_);
            for (std::size_t i = 0; i < n * h; ++i) x_[i] += tmp_[i];

            rms_norm(x_.data(), blk.ffn_norm.data(), xn_.data(), n, h, c.rms_eps);
            if (obs_) obs_->on_input(l, linear_input::mlp, xn_.data(), n, h);
            float* gate = ff_.data();
            float* up = ff_.data() + n * inter;
            blk.gate.forward(ex_, xn_.data(), n, gate, scratch_);
            blk.up.forward(ex_, xn_.data(), n, up, scratch_);
            for (std::size_t i = 0; i < n * inter; ++i) gate[i] = silu(gate[i]) * up[i];
            if (obs_) obs_->on_input(l, linear_input::down, gate, n, inter);
            blk.down.forward(ex_, gate, n, tmp_.data(), scratch_);
            for (std::size_t i = 0; i < n * h; ++i) x_[i] += tmp_[i];
        }
    }

    llama_model(std::shared_ptr<llama_weights> w, int threads)
        : w_(std::move(w)), ex_(threads), rope_(w_->cfg.head_dim, w_->cfg.context, w_->cfg.rope_theta) {}

    std::shared_ptr<llama_weights> w_;  ///< shared with the models sharing_weights() made
    exec_context ex_;
    rope_table rope_;
    activation_observer* obs_ = nullptr;
    std::vector<float> x_, xn_, q_, k_, v_, att_, ff_, tmp_, scores_, scratch_;
};

}  // namespace lowrank::runtime
