// Hugging Face (transformers) names of model tensors and modules, whatever file they come from:
// GGUF Llama/Qwen2 names (blk.N.attn_q.weight) mapped to transformers' (model.layers.N.self_attn.
// q_proj.weight), and the names transformers' classes use (LlamaForCausalLM / Qwen2ForCausalLM:
// "model." prefix, lm_head without; BertModel: no "bert." prefix, LayerNorm gamma/beta spelled
// weight/bias). Used by `lowrank export-hf` (runtime/hf_export.hpp) and by recipes
// (design/recipe.hpp), whose regular expressions match these module names.
//
// The GGUF side covers the decoder tensors llama.cpp's converter writes for these families (the
// blocks' norms, q/k/v/o, gate/up/down with .weight or .bias, the embedding, the final norm and
// the output projection); anything else maps to "" so that a caller can name the tensor it cannot
// place. (Classifying tensors — kind, role, layer — is model/names.hpp.)
#pragma once

#include "lowrank/model/family.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace lowrank::model {

/// Hugging Face name of a GGUF Llama/Qwen2 tensor; empty when the name is not one.
inline std::string hf_name_of_gguf(std::string_view g) {
    if (g == "token_embd.weight") return "model.embed_tokens.weight";
    if (g == "output_norm.weight") return "model.norm.weight";
    if (g == "output.weight") return "lm_head.weight";
    static constexpr std::pair<std::string_view, std::string_view> block[] = {
        {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}, {"attn_q", "self_attn.q_proj"},
        {"attn_k", "self_attn.k_proj"},   {"attn_v", "self_attn.v_proj"},           {"attn_output", "self_attn.o_proj"},
        {"ffn_gate", "mlp.gate_proj"},    {"ffn_up", "mlp.up_proj"},               {"ffn_down", "mlp.down_proj"}};
    if (!g.starts_with("blk.")) return {};
    const auto dot = g.find('.', 4);
    if (dot == std::string_view::npos || dot == 4) return {};
    const std::string_view layer = g.substr(4, dot - 4);
    if (layer.find_first_not_of("0123456789") != std::string_view::npos) return {};
    const std::string_view rest = g.substr(dot + 1);
    for (const auto& [gg, hh] : block)
        for (std::string_view suffix : {".weight", ".bias"})
            if (rest.size() == gg.size() + suffix.size() && rest.starts_with(gg) && rest.ends_with(suffix))
                return "model.layers." + std::string(layer) + "." + std::string(hh) + std::string(suffix);
    return {};
}

/// True for a name in GGUF's spelling (blk.N.*, token_embd.weight, output.weight, output_norm.weight).
inline bool is_gguf_name(std::string_view n) {
    return n.starts_with("blk.") || n == "output.weight" || n == "token_embd.weight" || n == "output_norm.weight";
}

/// The name transformers' class for family `f` gives Hugging Face tensor `name` (with or without
/// the checkpoint's "model." / "bert." prefix): decoders "model.<name>" (lm_head.weight as is),
/// BERT without "bert." and with old LayerNorm gamma/beta as weight/bias.
inline std::string hf_tensor_name(std::string_view name, family f) {
    std::string n(name);
    if (is_decoder(f)) return n == "lm_head.weight" || n.starts_with("model.") ? n : "model." + n;
    if (n.starts_with("bert.")) n.erase(0, 5);
    static constexpr std::pair<std::string_view, std::string_view> old_ln[] = {{".gamma", ".weight"}, {".beta", ".bias"}};
    for (const auto& [a, b] : old_ln)
        if (n.size() > a.size() && n.ends_with(a) && n.find("LayerNorm") != std::string::npos)
            n = n.substr(0, n.size() - a.size()) + std::string(b);
    return n;
}

/// The module name transformers gives the linear layer whose weight tensor is `name` (GGUF or
/// Hugging Face spelling) in family `f`: its Hugging Face tensor name without ".weight". Empty when
/// `name` is not a weight (or a GGUF name this table does not know).
inline std::string hf_module_name(std::string_view name, family f) {
    std::string n = is_gguf_name(name) ? hf_name_of_gguf(name) : std::string(name);
    constexpr std::string_view w = ".weight";
    if (n.size() <= w.size() || !std::string_view(n).ends_with(w)) return {};
    n.resize(n.size() - w.size());
    if (is_decoder(f)) return n == "lm_head" || n.starts_with("model.") ? n : "model." + n;
    return n.starts_with("bert.") ? n.substr(5) : n;
}

}  // namespace lowrank::model
