// Architecture catalogs: the decomposable weights of a transformer and its exact parameter count.
//
// A model m has N_Layers(m) identical blocks, each holding N_Tensors(m) decomposable weight
// matrices (the study's Definition 3.2). Roles, in block order:
//   llama, qwen2 (Llama-2, SmolLM2, Qwen2): q, k, v, o, gate, up, down          (7 tensors)
//   bert         (BERT, MiniLM):            q, k, v, attn-out, intermediate, output (6 tensors)
// Shapes are PyTorch [out, in]. With h = hidden, I = intermediate, d = head_dim, H_kv = KV heads:
//   q [H·d, h]  k, v [H_kv·d, h]  o [h, H·d]  gate, up [I, h]  down [h, I]
//   BERT: q, k, v, attn-out [h, h]  intermediate [I, h]  output [h, I]
// Everything else (embeddings, norms, biases, pooler, lm_head) is non-decomposable and counted
// exactly, so that total_parameters() matches the published model sizes:
//   Llama-2-7B 6,738,415,616; BERT-base 109,482,240 (with pooler); Qwen2.5-0.5B 494,032,768.
// No I/O: from_hf_config() takes an already parsed config.json (GGUF metadata: model/architecture.hpp).
// Families and roles are the enums of model/family.hpp.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/model/family.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lowrank::design {

using model::family;
using model::role;

/// One decomposable weight of a block.
struct tensor_spec {
    model::role role = model::role::none;  ///< q, k, ..., down / attn_out, intermediate, output
    std::uint64_t rows = 0;   ///< out features
    std::uint64_t cols = 0;   ///< in features
    bool has_bias = false;    ///< a bias vector of `rows` entries (non-decomposable)

    std::uint64_t parameters() const { return rows * cols; }      ///< weight only
    std::uint64_t rank() const { return rows < cols ? rows : cols; }  ///< largest possible rank
    std::string role_name() const { return std::string(model::to_string(role)); }  ///< "q", ..., "attn-out"
};

/// A transformer configuration as published (HF config.json fields).
struct architecture {
    std::string name;
    family kind = family::llama;   ///< llama and qwen2 share the decoder block; bert is the encoder
    std::uint64_t hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
    std::uint64_t vocab = 0;
    bool tied_embeddings = false;  ///< lm_head shares the token embedding (llama family)
    bool qkv_bias = false;         ///< Qwen2: q, k, v carry biases
    std::uint64_t max_positions = 0, type_vocab = 0;  ///< BERT position/token-type embeddings
    bool pooler = false;           ///< BERT pooler dense layer (h×h + h)

    /// The decomposable tensors of one block, in role order (identical for every block).
    std::vector<tensor_spec> tensors() const {
        const std::uint64_t h = hidden, I = intermediate, qd = heads * head_dim, kvd = kv_heads * head_dim;
        using R = model::role;
        if (model::is_decoder(kind))
            return {{R::q, qd, h, qkv_bias},  {R::k, kvd, h, qkv_bias}, {R::v, kvd, h, qkv_bias},
                    {R::o, h, qd, false},     {R::gate, I, h, false},   {R::up, I, h, false},
                    {R::down, h, I, false}};
        return {{R::q, h, h, true},         {R::k, h, h, true},        {R::v, h, h, true},
                {R::attn_out, h, h, true},  {R::intermediate, I, h, true}, {R::output, h, I, true}};
    }

    std::size_t tensors_per_layer() const { return model::block_roles(kind).size(); }

    /// Index of role `r` in tensors(), or throws invalid_argument when the block has none.
    std::size_t role_index(model::role r) const {
        const auto roles = model::block_roles(kind);
        for (std::size_t i = 0; i < roles.size(); ++i)
            if (roles[i] == r) return i;
        return role_index(std::string(model::to_string(r)));  // throws, listing the valid roles
    }

    /// Index of the role named `role` in tensors(), or throws invalid_argument listing the
    /// valid roles. Accepts "o" for BERT's "attn-out" and "attn_out"-style underscores.
    std::size_t role_index(const std::string& role) const {
        if (auto r = model::parse_role(kind, role)) return role_index(*r);
        std::string canon = role, valid;
        for (auto& c : canon)
            if (c == '_') c = '-';
        const auto roles = model::block_roles(kind);
        for (std::size_t i = 0; i < roles.size(); ++i) valid += (i ? ", " : "") + std::string(model::to_string(roles[i]));
        throw invalid_argument("unknown tensor role '" + canon + "' for " + name + " (valid: " + valid + ")");
    }

    /// Weights of the decomposable tensors of one block.
    std::uint64_t linear_parameters_per_layer() const {
        std::uint64_t n = 0;
        for (const auto& t : tensors()) n += t.parameters();
        return n;
    }
    /// Weights of all decomposable tensors (N_Layers × per layer): the "linear" base.
    std::uint64_t linear_parameters() const { return layers * linear_parameters_per_layer(); }

    /// Every parameter of one block: decomposable weights, their biases and the norms.
    std::uint64_t parameters_per_layer() const {
        std::uint64_t n = 0;
        for (const auto& t : tensors()) n += t.parameters() + (t.has_bias ? t.rows : 0);
        // llama: input + post-attention RMSNorm (weight only); bert: two LayerNorms (weight + bias)
        n += model::is_decoder(kind) ? 2 * hidden : 4 * hidden;
        return n;
    }

    /// Token embedding (+ BERT position, token-type embeddings and embedding LayerNorm).
    std::uint64_t embedding_parameters() const {
        if (model::is_decoder(kind)) return vocab * hidden;
        return (vocab + max_positions + type_vocab) * hidden + 2 * hidden;
    }

    /// Everything outside the blocks: embeddings, final norm, lm_head (untied), pooler.
    std::uint64_t non_block_parameters() const {
        std::uint64_t n = embedding_parameters();
        if (model::is_decoder(kind)) {
            n += hidden;                              // final RMSNorm
            if (!tied_embeddings) n += vocab * hidden;  // lm_head
        } else if (pooler) {
            n += hidden * hidden + hidden;
        }
        return n;
    }

    /// Exact parameter count of the whole model.
    std::uint64_t total_parameters() const { return layers * parameters_per_layer() + non_block_parameters(); }

    /// Checks the fields are consistent; throws invalid_argument naming the field.
    void validate() const {
        auto need = [&](std::uint64_t v, const char* field) {
            if (v == 0) throw invalid_argument("architecture '" + name + "': " + field + " must be positive");
        };
        need(hidden, "hidden_size");
        need(intermediate, "intermediate_size");
        need(layers, "num_hidden_layers");
        need(heads, "num_attention_heads");
        need(kv_heads, "num_key_value_heads");
        need(head_dim, "head_dim");
        need(vocab, "vocab_size");
        if (heads % kv_heads != 0)
            throw invalid_argument("architecture '" + name + "': num_attention_heads (" + std::to_string(heads) +
                                   ") is not a multiple of num_key_value_heads (" + std::to_string(kv_heads) + ")");
        if (kind == family::bert && heads * head_dim != hidden)
            throw invalid_argument("architecture '" + name + "': hidden_size is not num_attention_heads × head_dim");
        if (layers > 100000) throw invalid_argument("architecture '" + name + "': num_hidden_layers is implausibly large");
    }
};

/// A decoder (llama family; qwen2 when `bias`: Qwen2's q/k/v biases) with head_dim = h / H.
inline architecture make_llama(std::string name, std::uint64_t h, std::uint64_t I, std::uint64_t L, std::uint64_t H,
                               std::uint64_t Hkv, std::uint64_t V, bool tied, bool bias = false) {
    architecture a;
    a.name = std::move(name);
    a.kind = bias ? family::qwen2 : family::llama;
    a.hidden = h, a.intermediate = I, a.layers = L, a.heads = H, a.kv_heads = Hkv, a.head_dim = h / H;
    a.vocab = V, a.tied_embeddings = tied, a.qkv_bias = bias;
    return a;
}
/// A BERT encoder with BERT-base's vocabulary, positions, token types and a pooler.
inline architecture make_bert(std::string name, std::uint64_t h, std::uint64_t I, std::uint64_t L, std::uint64_t H) {
    architecture a;
    a.name = std::move(name);
    a.kind = family::bert;
    a.hidden = h, a.intermediate = I, a.layers = L, a.heads = H, a.kv_heads = H, a.head_dim = h / H;
    a.vocab = 30522, a.max_positions = 512, a.type_vocab = 2, a.pooler = true;
    return a;
}

/// The published configurations (values from each model's Hugging Face config.json).
inline const std::vector<architecture>& catalog() {
    static const std::vector<architecture> all = {
        make_llama("llama2-7b", 4096, 11008, 32, 32, 32, 32000, false),
        make_llama("llama2-13b", 5120, 13824, 40, 40, 40, 32000, false),
        make_llama("llama2-70b", 8192, 28672, 80, 64, 8, 32000, false),
        make_bert("bert-base", 768, 3072, 12, 12),
        make_bert("bert-large", 1024, 4096, 24, 16),
        make_llama("smollm2-135m", 576, 1536, 30, 9, 3, 49152, true),
        make_bert("minilm-l6", 384, 1536, 6, 12),
        make_llama("qwen2.5-0.5b", 896, 4864, 24, 14, 2, 151936, true, true),
        make_llama("qwen2.5-1.5b", 1536, 8960, 28, 12, 2, 151936, true, true),
    };
    return all;
}

/// Catalog entry by name; throws invalid_argument listing the known names.
inline const architecture& find_architecture(const std::string& name) {
    std::string known;
    for (const auto& a : catalog()) {
        if (a.name == name) return a;
        known += (known.empty() ? "" : ", ") + a.name;
    }
    throw invalid_argument("unknown architecture '" + name + "' (known: " + known + ")");
}

/// Builds an architecture from a parsed Hugging Face config.json. The family comes from
/// model_type (else architectures[]) through model::family_from_config: llama (and Mistral),
/// qwen2 (adds q/k/v biases) or bert. `name` defaults to the config's model_type. Throws
/// invalid_argument naming a missing or malformed field or the unsupported model_type.
inline architecture from_hf_config(const nlohmann::json& cfg, std::string name = {}) {
    if (!cfg.is_object()) throw invalid_argument("config.json: expected a JSON object");
    auto get = [&](const char* key) -> std::uint64_t {
        if (!cfg.contains(key)) throw invalid_argument(std::string("config.json: missing field '") + key + "'");
        const auto& v = cfg.at(key);
        if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
            throw invalid_argument(std::string("config.json: field '") + key + "' must be a positive integer");
        return v.get<std::uint64_t>();
    };
    auto get_or = [&](const char* key, std::uint64_t dflt) { return cfg.contains(key) && !cfg.at(key).is_null() ? get(key) : dflt; };
    const std::string type = cfg.value("model_type", std::string{});
    if (name.empty()) name = type.empty() ? "unnamed" : type;
    family f = family::llama;
    try {
        f = model::family_from_config(cfg);
    } catch (const architecture_error&) {
        throw invalid_argument("config.json: unsupported model_type '" + type + "' (supported: " +
                               model::supported_families() + ")");
    }
    architecture a;
    a.name = name;
    a.hidden = get("hidden_size");
    a.intermediate = get("intermediate_size");
    a.layers = get("num_hidden_layers");
    a.heads = get("num_attention_heads");
    a.vocab = get("vocab_size");
    a.kind = f;
    if (model::is_decoder(f)) {
        a.kv_heads = get_or("num_key_value_heads", a.heads);
        a.head_dim = get_or("head_dim", a.hidden / a.heads);
        a.tied_embeddings = cfg.value("tie_word_embeddings", false);
        a.qkv_bias = f == family::qwen2 || cfg.value("attention_bias", false);
    } else {
        a.kv_heads = a.heads;
        a.head_dim = a.hidden / a.heads;
        a.max_positions = get_or("max_position_embeddings", 512);
        a.type_vocab = get_or("type_vocab_size", 2);
        a.pooler = true;
    }
    a.validate();
    return a;
}

}  // namespace lowrank::design
