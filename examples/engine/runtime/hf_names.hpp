// Hugging Face names of model tensors and modules, whatever file they come from: GGUF Llama/Qwen2
// names (blk.N.attn_q.weight) mapped to transformers' (model.layers.N.self_attn.q_proj.weight),
// and the module names transformers' classes use (LlamaForCausalLM: "model." prefix; BertModel:
// no "bert." prefix). Used by `lowrank export-hf` and by recipes (design/recipe.hpp), whose
// regular expressions match these module names.
#pragma once

#include <string>
#include <utility>

namespace lowrank::runtime::detail {

/// Hugging Face name of a GGUF Llama/Qwen2 tensor; empty when the name is not one.
inline std::string hf_name_of_gguf(const std::string& g) {
    if (g == "token_embd.weight") return "model.embed_tokens.weight";
    if (g == "output_norm.weight") return "model.norm.weight";
    if (g == "output.weight") return "lm_head.weight";
    static const std::pair<const char*, const char*> block[] = {
        {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}, {"attn_q", "self_attn.q_proj"},
        {"attn_k", "self_attn.k_proj"},   {"attn_v", "self_attn.v_proj"},           {"attn_output", "self_attn.o_proj"},
        {"ffn_gate", "mlp.gate_proj"},    {"ffn_up", "mlp.up_proj"},               {"ffn_down", "mlp.down_proj"}};
    if (g.rfind("blk.", 0) != 0) return {};
    const auto dot = g.find('.', 4);
    if (dot == std::string::npos || dot == 4) return {};
    const std::string layer = g.substr(4, dot - 4);
    if (layer.find_first_not_of("0123456789") != std::string::npos) return {};
    const std::string rest = g.substr(dot + 1);
    for (const auto& [gg, hh] : block)
        for (const char* suffix : {".weight", ".bias"})
            if (rest == std::string(gg) + suffix) return "model.layers." + layer + "." + hh + suffix;
    return {};
}

/// The module name transformers gives the linear layer whose weight tensor is `name` (GGUF or
/// Hugging Face spelling; family "llama", "qwen2" or "bert"): the HF tensor name without ".weight",
/// with "model." for decoders and without "bert." for BERT. Empty when `name` is not a weight.
inline std::string hf_module_name(const std::string& name, const std::string& family) {
    std::string n = name;
    if (n.rfind("blk.", 0) == 0 || n == "output.weight" || n == "token_embd.weight") n = hf_name_of_gguf(n);
    const std::string w = ".weight";
    if (n.size() <= w.size() || n.compare(n.size() - w.size(), w.size(), w) != 0) return {};
    n.resize(n.size() - w.size());
    if (family == "bert") return n.rfind("bert.", 0) == 0 ? n.substr(5) : n;
    return n == "lm_head" || n.rfind("model.", 0) == 0 ? n : "model." + n;
}

}  // namespace lowrank::runtime::detail
