// Loading Llama-family weights: GGUF (dequantised to float32, q/k rows restored to the Hugging
// Face order) and Hugging Face safetensors directories, both opened by the library's model layer
// (lowrank/model/source.hpp); γ plans applied in memory: runtime/plan.hpp. (Factorised files
// written by `lowrank decompose`: runtime/factorized_loader.hpp.) Every tensor's shape is checked
// against the configuration (weight_source.hpp).
#pragma once

#include "lowrank/io/gguf.hpp"
#include "lowrank/model/source.hpp"
#include "runtime/linear.hpp"
#include "runtime/llama.hpp"
#include "runtime/plan.hpp"
#include "runtime/weight_source.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

namespace lowrank::runtime {

/// Reads metadata key `<arch>.<key>` as an integer, or `dflt` when absent (dflt < 0: required).
inline std::size_t gguf_uint(const gguf_file& f, const std::string& key, long long dflt = -1) {
    const auto* v = f.find(key);
    if (!v) {
        if (dflt < 0) throw io_error(f.path, std::string("missing metadata ") + key);
        return static_cast<std::size_t>(dflt);
    }
    return static_cast<std::size_t>(v->to_int());
}

/// The hyperparameters in a GGUF file's metadata (vocab is left 0: it comes from the embedding),
/// read under its general.architecture's keys. Accepts the decoder families the model layer
/// recognises (model::family_of: llama, qwen2 and their aliases such as "mistral"); anything else
/// is an architecture_error naming the file.
inline llama_config llama_config_from_gguf(const gguf_file& f, std::size_t max_context = 4096) {
    const std::string arch = f.architecture();
    model::family fam;
    try {
        fam = model::family_from_name(arch.empty() ? "(no general.architecture)" : arch);
    } catch (const architecture_error& e) {
        throw architecture_error(f.path + ": " + e.what());  // as model_source says it
    }
    if (!model::is_decoder(fam))
        throw architecture_error(f.path + ": general.architecture '" + arch + "' is a " + std::string(model::to_string(fam)) +
                                 " model, not a Llama-family decoder");
    llama_config c;
    c.hidden = gguf_uint(f, arch + ".embedding_length");
    c.intermediate = gguf_uint(f, arch + ".feed_forward_length");
    c.layers = gguf_uint(f, arch + ".block_count");
    c.heads = gguf_uint(f, arch + ".attention.head_count");
    c.kv_heads = gguf_uint(f, arch + ".attention.head_count_kv", static_cast<long long>(c.heads));
    if (c.heads == 0 || c.hidden % c.heads != 0 || c.kv_heads == 0 || c.heads % c.kv_heads != 0)
        throw io_error(f.path, "inconsistent head counts");
    c.head_dim = c.hidden / c.heads;
    if (const auto* v = f.find(arch + ".rope.dimension_count"); v && static_cast<std::size_t>(v->to_int()) != c.head_dim)
        throw io_error(f.path, "partial rotary embeddings are not supported");
    if (const auto* v = f.find(arch + ".rope.scaling.type"); v && v->as_string() != "none")
        throw io_error(f.path, std::string("RoPE scaling '") + v->as_string() + "' is not supported");
    c.context = std::min(gguf_uint(f, arch + ".context_length", 2048), max_context);
    if (const auto* v = f.find(arch + ".rope.freq_base")) c.rope_theta = v->to_double();
    if (const auto* v = f.find(arch + ".attention.layer_norm_rms_epsilon")) c.rms_eps = static_cast<float>(v->to_double());
    return c;
}

/// The hyperparameters in a Hugging Face config.json (`where` names it in errors).
inline llama_config llama_config_from_hf(const nlohmann::json& cfg, const std::string& where, std::size_t max_context = 4096) {
    llama_config c;
    try {
        c.hidden = cfg.at("hidden_size"), c.intermediate = cfg.at("intermediate_size");
        c.layers = cfg.at("num_hidden_layers"), c.heads = cfg.at("num_attention_heads");
        c.kv_heads = cfg.value("num_key_value_heads", c.heads);
        if (c.heads == 0 || c.kv_heads == 0) throw io_error(where, "head counts must be positive");
        c.head_dim = cfg.value("head_dim", c.hidden / c.heads);
        c.vocab = cfg.at("vocab_size");
        c.rope_theta = cfg.value("rope_theta", 10000.0);
        // transformers ≥ 5 writes rope_parameters {rope_theta, rope_type} instead
        if (cfg.contains("rope_parameters") && cfg.at("rope_parameters").is_object()) {
            const auto& rp = cfg.at("rope_parameters");
            if (rp.value("rope_type", std::string("default")) != "default")
                throw io_error(where, std::string("rope_parameters.rope_type '") + rp.value("rope_type", std::string()) +
                                         "' is not supported (only default RoPE)");
            c.rope_theta = rp.value("rope_theta", c.rope_theta);
        }
        c.rms_eps = cfg.value("rms_norm_eps", 1e-6f);
        c.context = std::min<std::size_t>(cfg.value("max_position_embeddings", 2048), max_context);
    } catch (const nlohmann::json::exception& e) {
        throw io_error(where, e.what());
    }
    if (cfg.contains("rope_scaling") && !cfg.at("rope_scaling").is_null())
        throw io_error(where, "rope_scaling is not supported");
    return c;
}

/// How tensors are named: llama.cpp's GGUF names (blk.N.attn_q.weight) or Hugging Face's
/// (model.layers.N.self_attn.q_proj.weight, with or without the "model." prefix).
enum class llama_names { gguf, hugging_face };

/// How loaded weights are held.
struct load_options {
    /// Round each weight matrix (embedding, every linear or its factors, the head) to bf16 as soon
    /// as it is read (runtime/bf16.hpp), so the model never exists whole in float32: the peak is
    /// the bf16 model plus one tensor in float32 (the largest: the embedding or a factor), instead
    /// of the float32 model (27 GB for a 7B model). The same values as loading in float32 and
    /// calling llama_weights::to_bf16() afterwards. Not with a γ applied in memory (apply_plan
    /// factorises float32 layers): load float32, apply, then to_bf16().
    bool bf16 = false;
    /// Take each layer's MLP intermediate size and value head dim from its tensors' shapes
    /// (gate/up [I_l, h], down [h, I_l], v [Hkv·dv_l, h], o [h, H·dv_l]) instead of the
    /// configuration: models pruned by the structured compressor (compress/structured.hpp).
    /// q/k, the norms and the embedding are still checked against the configuration, and the
    /// shapes within a layer against each other. open_llama sets it for factorised files whose
    /// manifest says "per_layer_shapes": true.
    bool shapes_from_tensors = false;
};

/// Builds the weights of config `c` from `src`, checking every tensor's shape against `c`
/// (c.vocab = 0: taken from the embedding; c.tied: decided by the presence of an output head).
/// Linear layers come out dense or factorised, as `src` stores them; bf16 at once with opt.bf16.
inline llama_weights build_llama(llama_config c, const weight_source& src, llama_names names,
                                 const load_options& opt = {}) {
    const bool gg = names == llama_names::gguf;
    auto hf = [&](const std::string& n) { return src.has("model." + n) ? "model." + n : n; };
    auto nm = [&](const std::string& g, const std::string& h) { return gg ? g : hf(h); };
    const std::string embed = nm("token_embd.weight", "embed_tokens.weight");
    if (!src.has(embed)) throw io_error(src.where, "tensor '" + embed + "' is missing");
    if (c.vocab == 0) c.vocab = src.shape(embed).empty() ? 0 : src.shape(embed)[0];
    llama_weights w;
    w.embed = need_tensor(src, embed, {c.vocab, c.hidden});
    if (opt.bf16) w.embed16 = bf16_matrix::from_rows(w.embed.data(), c.vocab, c.hidden), w.embed = std::vector<float>();
    w.final_norm = need_tensor(src, nm("output_norm.weight", "norm.weight"), {c.hidden});
    const std::string head = gg ? "output.weight" : "lm_head.weight";
    c.tied = !src.has(head);
    if (!c.tied) w.lm_head = need_linear(src, head, c.vocab, c.hidden);
    if (!c.tied && opt.bf16) w.lm_head.to_bf16();
    const std::size_t qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
    for (std::size_t l = 0; l < c.layers; ++l) {
        const std::string g = "blk." + std::to_string(l) + ".", h = "layers." + std::to_string(l) + ".";
        auto lin = [&](const char* gn, const char* hn, std::size_t out, std::size_t in, bool bias) {
            const std::string n = nm(g + gn + ".weight", h + hn + ".weight");
            const std::string b = bias ? nm(g + gn + ".bias", h + hn + ".bias") : std::string{};  // Qwen2
            linear l = need_linear(src, n, out, in, b);
            if (opt.bf16) l.to_bf16();
            return l;
        };
        llama_block b;
        b.attn_norm = need_tensor(src, nm(g + "attn_norm.weight", h + "input_layernorm.weight"), {c.hidden});
        b.ffn_norm = need_tensor(src, nm(g + "ffn_norm.weight", h + "post_attention_layernorm.weight"), {c.hidden});
        std::size_t inter = c.intermediate, vd = kvd;  // this layer's sizes
        if (opt.shapes_from_tensors) {
            auto rows_of = [&](const char* gn, const char* hn, const std::string& what) {
                const std::string n = nm(g + gn + ".weight", h + hn + ".weight");
                if (!src.has(n)) throw io_error(src.where, "tensor '" + n + "' is missing");
                const shape_t s = src.shape(n);
                if (s.size() != 2 || s[0] == 0)
                    throw io_error(src.where, "tensor '" + n + "' has shape " + shape_text(s) + ", not a non-empty " + what);
                return s[0];
            };
            inter = rows_of("ffn_gate", "mlp.gate_proj", "[intermediate, hidden] matrix");
            vd = rows_of("attn_v", "self_attn.v_proj", "[kv_heads·value_dim, hidden] matrix");
            if (vd % c.kv_heads != 0)
                throw io_error(src.where, "layer " + std::to_string(l) + ": v_proj has " + std::to_string(vd) +
                                              " rows, not a multiple of the " + std::to_string(c.kv_heads) + " kv heads");
        }
        const std::size_t od = c.heads * (vd / c.kv_heads);
        b.q = lin("attn_q", "self_attn.q_proj", qd, c.hidden, true);
        b.k = lin("attn_k", "self_attn.k_proj", kvd, c.hidden, true);
        b.v = lin("attn_v", "self_attn.v_proj", vd, c.hidden, true);
        b.o = lin("attn_output", "self_attn.o_proj", c.hidden, od, false);
        b.gate = lin("ffn_gate", "mlp.gate_proj", inter, c.hidden, false);
        b.up = lin("ffn_up", "mlp.up_proj", inter, c.hidden, false);
        b.down = lin("ffn_down", "mlp.down_proj", c.hidden, inter, false);
        w.blocks.push_back(std::move(b));
    }
    w.cfg = c;
    return w;
}

/// Llama / Qwen2 weights from a model opened by the model layer: a GGUF file (any dequantisable
/// type) or a Hugging Face directory (config.json + safetensors, any float dtype). The file is
/// checked first (family: architecture_error naming it), then its configuration, then every tensor.
inline llama_weights load_llama(const model::model_source& m, std::size_t max_context = 4096, const load_options& opt = {});

/// Llama / Qwen2 weights from a GGUF file (any dequantisable type).
inline llama_weights load_llama_gguf(const gguf_file& f, std::size_t max_context = 4096, const load_options& opt = {}) {
    return load_llama(model::model_source::from_gguf(f), max_context, opt);
}

/// Reads `dir`/config.json.
inline nlohmann::json read_hf_config(const std::string& dir) {
    const std::string p = (std::filesystem::path(dir) / "config.json").string();
    std::ifstream in(p);
    if (!in) throw io_error(dir, "no config.json");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw io_error(p, std::string("not valid JSON: ") + e.what());
    }
}

/// Llama / Qwen2 weights from a Hugging Face directory (config.json + model.safetensors or a
/// sharded index), any float dtype.
inline llama_weights load_llama_hf(const std::string& dir, std::size_t max_context = 4096, const load_options& opt = {}) {
    const nlohmann::json cfg = read_hf_config(dir);  // "no config.json" before anything else
    return load_llama(model::model_source::open(dir), max_context, opt);
}

inline llama_weights load_llama(const model::model_source& m, std::size_t max_context, const load_options& opt) {
    if (!model::is_decoder(m.family()))
        throw architecture_error(m.path() + ": a " + std::string(model::to_string(m.family())) +
                                 " model, not a Llama-family decoder (from " + m.family_source() + ")");
    if (const gguf_file* g = m.gguf()) {
        const llama_config c = llama_config_from_gguf(*g, max_context);
        return build_llama(c, weight_source_of(m), llama_names::gguf, opt);
    }
    if (!m.config() || m.format() != model::source_format::safetensors)
        throw io_error(m.path(), "not a GGUF file or a Hugging Face model directory with config.json");
    const std::string where = (m.directory() / "config.json").string();
    const llama_config c = llama_config_from_hf(*m.config(), where, max_context);
    return build_llama(c, weight_source_of(m), llama_names::hugging_face, opt);
}

/// The design-space architecture of loaded weights (for reading γ files).
inline design::architecture design_architecture(const llama_config& c, const std::string& name = "model") {
    return design::make_llama(name, c.hidden, c.intermediate, c.layers, c.heads, c.kv_heads, c.vocab, c.tied);
}

/// Factorises the layers γ names, in memory (runtime/plan.hpp); see apply_plan there.
inline std::vector<plan_step> apply_plan(exec_context& ex, llama_weights& w, const nlohmann::json& gamma,
                                         bool keep_dense_when_larger = true) {
    return apply_plan(ex, w, design_architecture(w.cfg, gamma.value("model", std::string("model"))), gamma,
                      keep_dense_when_larger);
}

}  // namespace lowrank::runtime
