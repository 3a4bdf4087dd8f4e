// Tensor-name tables: one per model family, mapping the tensor names found in weight files
// (Hugging Face safetensors, with or without the `model.` / `bert.` prefix; GGUF `blk.N.*`)
// to (kind, role, layer). Nothing else in the code branches on tensor names. (Family names as
// files spell them, and the decomposable roles of each block: model/family.hpp.)
//
// Non-decomposable tensors are classified too: embeddings, norms, biases, lm_head (absent
// when tied to the embedding), buffers (position_ids, rotary inv_freq) and task heads.
#pragma once

#include "lowrank/model/family.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowrank::model {

/// Classification of one tensor name.
struct tensor_class {
    tensor_kind kind = tensor_kind::unknown;
    model::role role = model::role::none;
    int layer = -1;  ///< block index, -1 outside the blocks
    bool decomposable() const { return kind == tensor_kind::weight; }
};

/// One rule of a table: `pattern` may hold "{L}" for the layer index.
struct name_rule {
    std::string_view pattern;
    tensor_kind kind;
    model::role role = model::role::none;
};

/// The table of one family.
struct name_table {
    model::family family;
    std::span<const std::string_view> prefixes;  ///< optional prefixes of HF names ("model.", "bert.")
    std::span<const name_rule> rules;            ///< HF names, without prefix
    std::span<const name_rule> gguf_rules;       ///< GGUF names
};

namespace detail {
using K = tensor_kind;
using R = role;

inline constexpr std::string_view model_prefix[] = {"model."};
inline constexpr std::string_view bert_prefix[] = {"bert."};

// Llama-family decoder blocks; Qwen2 adds q/k/v biases (accepted for llama too: harmless).
inline constexpr name_rule llama_rules[] = {
    {"embed_tokens.weight", K::embedding},
    {"norm.weight", K::norm},
    {"lm_head.weight", K::lm_head},
    {"layers.{L}.self_attn.q_proj.weight", K::weight, R::q},
    {"layers.{L}.self_attn.k_proj.weight", K::weight, R::k},
    {"layers.{L}.self_attn.v_proj.weight", K::weight, R::v},
    {"layers.{L}.self_attn.o_proj.weight", K::weight, R::o},
    {"layers.{L}.mlp.gate_proj.weight", K::weight, R::gate},
    {"layers.{L}.mlp.up_proj.weight", K::weight, R::up},
    {"layers.{L}.mlp.down_proj.weight", K::weight, R::down},
    {"layers.{L}.self_attn.q_proj.bias", K::bias, R::q},
    {"layers.{L}.self_attn.k_proj.bias", K::bias, R::k},
    {"layers.{L}.self_attn.v_proj.bias", K::bias, R::v},
    {"layers.{L}.input_layernorm.weight", K::norm},
    {"layers.{L}.post_attention_layernorm.weight", K::norm},
    {"layers.{L}.self_attn.rotary_emb.inv_freq", K::buffer},
};
inline constexpr name_rule llama_gguf_rules[] = {
    {"token_embd.weight", K::embedding},
    {"output_norm.weight", K::norm},
    {"output.weight", K::lm_head},
    {"rope_freqs.weight", K::buffer},
    {"blk.{L}.attn_q.weight", K::weight, R::q},
    {"blk.{L}.attn_k.weight", K::weight, R::k},
    {"blk.{L}.attn_v.weight", K::weight, R::v},
    {"blk.{L}.attn_output.weight", K::weight, R::o},
    {"blk.{L}.ffn_gate.weight", K::weight, R::gate},
    {"blk.{L}.ffn_up.weight", K::weight, R::up},
    {"blk.{L}.ffn_down.weight", K::weight, R::down},
    {"blk.{L}.attn_q.bias", K::bias, R::q},
    {"blk.{L}.attn_k.bias", K::bias, R::k},
    {"blk.{L}.attn_v.bias", K::bias, R::v},
    {"blk.{L}.attn_norm.weight", K::norm},
    {"blk.{L}.ffn_norm.weight", K::norm},
    {"blk.{L}.rope_freqs.weight", K::buffer},
};

// BERT encoder blocks. Old checkpoints (bert-base-uncased) name LayerNorm parameters gamma/beta.
inline constexpr name_rule bert_rules[] = {
    {"embeddings.word_embeddings.weight", K::embedding},
    {"embeddings.position_embeddings.weight", K::embedding},
    {"embeddings.token_type_embeddings.weight", K::embedding},
    {"embeddings.LayerNorm.weight", K::norm}, {"embeddings.LayerNorm.bias", K::norm},
    {"embeddings.LayerNorm.gamma", K::norm}, {"embeddings.LayerNorm.beta", K::norm},
    {"embeddings.position_ids", K::buffer},
    {"encoder.layer.{L}.attention.self.query.weight", K::weight, R::q},
    {"encoder.layer.{L}.attention.self.key.weight", K::weight, R::k},
    {"encoder.layer.{L}.attention.self.value.weight", K::weight, R::v},
    {"encoder.layer.{L}.attention.output.dense.weight", K::weight, R::attn_out},
    {"encoder.layer.{L}.intermediate.dense.weight", K::weight, R::intermediate},
    {"encoder.layer.{L}.output.dense.weight", K::weight, R::output},
    {"encoder.layer.{L}.attention.self.query.bias", K::bias, R::q},
    {"encoder.layer.{L}.attention.self.key.bias", K::bias, R::k},
    {"encoder.layer.{L}.attention.self.value.bias", K::bias, R::v},
    {"encoder.layer.{L}.attention.output.dense.bias", K::bias, R::attn_out},
    {"encoder.layer.{L}.intermediate.dense.bias", K::bias, R::intermediate},
    {"encoder.layer.{L}.output.dense.bias", K::bias, R::output},
    {"encoder.layer.{L}.attention.output.LayerNorm.weight", K::norm},
    {"encoder.layer.{L}.attention.output.LayerNorm.bias", K::norm},
    {"encoder.layer.{L}.attention.output.LayerNorm.gamma", K::norm},
    {"encoder.layer.{L}.attention.output.LayerNorm.beta", K::norm},
    {"encoder.layer.{L}.output.LayerNorm.weight", K::norm},
    {"encoder.layer.{L}.output.LayerNorm.bias", K::norm},
    {"encoder.layer.{L}.output.LayerNorm.gamma", K::norm},
    {"encoder.layer.{L}.output.LayerNorm.beta", K::norm},
    {"pooler.dense.weight", K::head}, {"pooler.dense.bias", K::head},
    {"cls.predictions.bias", K::head},
    {"cls.predictions.decoder.weight", K::head}, {"cls.predictions.decoder.bias", K::head},
    {"cls.predictions.transform.dense.weight", K::head}, {"cls.predictions.transform.dense.bias", K::head},
    {"cls.predictions.transform.LayerNorm.weight", K::head}, {"cls.predictions.transform.LayerNorm.bias", K::head},
    {"cls.predictions.transform.LayerNorm.gamma", K::head}, {"cls.predictions.transform.LayerNorm.beta", K::head},
    {"cls.seq_relationship.weight", K::head}, {"cls.seq_relationship.bias", K::head},
    {"classifier.weight", K::head}, {"classifier.bias", K::head},
};
inline constexpr name_rule bert_gguf_rules[] = {
    {"token_embd.weight", K::embedding},
    {"position_embd.weight", K::embedding},
    {"token_types.weight", K::embedding},
    {"token_embd_norm.weight", K::norm}, {"token_embd_norm.bias", K::norm},
    {"blk.{L}.attn_q.weight", K::weight, R::q},
    {"blk.{L}.attn_k.weight", K::weight, R::k},
    {"blk.{L}.attn_v.weight", K::weight, R::v},
    {"blk.{L}.attn_output.weight", K::weight, R::attn_out},
    {"blk.{L}.ffn_up.weight", K::weight, R::intermediate},
    {"blk.{L}.ffn_down.weight", K::weight, R::output},
    {"blk.{L}.attn_q.bias", K::bias, R::q},
    {"blk.{L}.attn_k.bias", K::bias, R::k},
    {"blk.{L}.attn_v.bias", K::bias, R::v},
    {"blk.{L}.attn_output.bias", K::bias, R::attn_out},
    {"blk.{L}.ffn_up.bias", K::bias, R::intermediate},
    {"blk.{L}.ffn_down.bias", K::bias, R::output},
    {"blk.{L}.attn_output_norm.weight", K::norm}, {"blk.{L}.attn_output_norm.bias", K::norm},
    {"blk.{L}.layer_output_norm.weight", K::norm}, {"blk.{L}.layer_output_norm.bias", K::norm},
};

inline constexpr name_table tables[] = {
    {family::llama, model_prefix, llama_rules, llama_gguf_rules},
    {family::qwen2, model_prefix, llama_rules, llama_gguf_rules},
    {family::bert, bert_prefix, bert_rules, bert_gguf_rules},
};

constexpr bool tables_in_enum_order() {
    if (std::size(tables) != std::size(families)) return false;
    for (std::size_t i = 0; i < std::size(tables); ++i)
        if (static_cast<std::size_t>(tables[i].family) != i) return false;
    return true;
}
static_assert(tables_in_enum_order(), "model::detail::tables[] must hold one table per family, in enum order");

/// Matches `name` against `pattern` ("{L}" = a decimal layer index); sets `layer`.
inline bool match_rule(std::string_view pattern, std::string_view name, int& layer) {
    const auto at = pattern.find("{L}");
    if (at == std::string_view::npos) return pattern == name;
    const std::string_view head = pattern.substr(0, at), tail = pattern.substr(at + 3);
    if (name.size() <= head.size() + tail.size() || name.substr(0, head.size()) != head ||
        name.substr(name.size() - tail.size()) != tail)
        return false;
    const std::string_view digits = name.substr(head.size(), name.size() - head.size() - tail.size());
    if (digits.size() > 6 || (digits.size() > 1 && digits[0] == '0')) return false;
    int v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    layer = v;
    return true;
}
}  // namespace detail

/// The name table of a family.
inline const name_table& table_of(family f) { return detail::tables[static_cast<int>(f)]; }

/// Classifies one tensor name (HF with or without prefix, or GGUF) for family `a`.
inline tensor_class classify_tensor(family a, std::string_view name) {
    const name_table& t = table_of(a);
    auto try_rules = [&](std::span<const name_rule> rules, std::string_view n, tensor_class& out) {
        for (const auto& r : rules) {
            int layer = -1;
            if (detail::match_rule(r.pattern, n, layer)) {
                out = {r.kind, r.role, layer};
                return true;
            }
        }
        return false;
    };
    tensor_class c;
    if (try_rules(t.gguf_rules, name, c)) return c;
    if (try_rules(t.rules, name, c)) return c;
    for (auto p : t.prefixes)
        if (name.substr(0, p.size()) == p && try_rules(t.rules, name.substr(p.size()), c)) return c;
    return c;  // unknown
}

/// Guesses the family from tensor names alone (for a bare .safetensors file without config):
/// BERT encoder names → bert; Llama-style names with q/k/v biases → qwen2; else llama.
/// Throws architecture_error when the names fit no family.
inline family family_from_names(std::span<const std::string> names) {
    bool llama_like = false, qkv_bias = false, bert = false;
    for (const auto& n : names) {
        const tensor_class b = classify_tensor(family::bert, n);
        if (b.kind == tensor_kind::weight && n.find("blk.") != 0) bert = true;
        const tensor_class l = classify_tensor(family::llama, n);
        if (l.kind == tensor_kind::weight) llama_like = true;
        if (l.kind == tensor_kind::bias) qkv_bias = true;
    }
    if (bert && !llama_like) return family::bert;
    if (llama_like && !bert) return qkv_bias ? family::qwen2 : family::llama;
    throw architecture_error("cannot tell the architecture from the tensor names; supported: " + supported_families());
}

/// All tensors of a model, classified, with the decomposable weights indexed by layer and role.
struct model_layout {
    model::family family = model::family::llama;
    std::size_t layers = 0;                          ///< 1 + the largest block index seen
    std::vector<std::string> names;                  ///< as given
    std::vector<tensor_class> classes;               ///< classes[i] is names[i]'s
    std::vector<std::map<role, std::string>> weights;  ///< [layer][role] -> tensor name
    std::vector<std::string> unknown;                ///< names not in the family's table
    bool tied_embeddings = false;                    ///< no separate lm_head tensor
    /// Decomposable (layer, role) pairs the table expects but the file lacks, as "layer.role".
    std::vector<std::string> missing;
};

inline model_layout layout_of(family a, std::span<const std::string> names) {
    model_layout m;
    m.family = a;
    bool lm_head = false;
    for (const auto& n : names) {
        const tensor_class c = classify_tensor(a, n);
        m.names.push_back(n);
        m.classes.push_back(c);
        if (c.layer >= 0) m.layers = std::max(m.layers, static_cast<std::size_t>(c.layer) + 1);
        if (c.kind == tensor_kind::unknown) m.unknown.push_back(n);
        if (c.kind == tensor_kind::lm_head) lm_head = true;
    }
    m.tied_embeddings = !lm_head && a != family::bert;
    m.weights.resize(m.layers);
    for (std::size_t i = 0; i < names.size(); ++i)
        if (m.classes[i].decomposable()) m.weights[static_cast<std::size_t>(m.classes[i].layer)][m.classes[i].role] = names[i];
    for (std::size_t l = 0; l < m.layers; ++l)
        for (auto r : block_roles(a))
            if (!m.weights[l].count(r)) m.missing.push_back(std::to_string(l) + "." + std::string(to_string(r)));
    return m;
}

}  // namespace lowrank::model
