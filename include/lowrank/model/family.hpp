// The vocabulary of models: which family a model belongs to, what a tensor is, and which role a
// linear weight plays in its block. One enum each, used by the design space (design/), the
// model layer (model/) and the drivers; strings appear only at the edges (JSON, CLI, tables).
//
//   family  blocks                                              decomposable roles, in block order
//   llama   Llama, Llama-2, SmolLM2, Mistral-style decoders     q, k, v, o, gate, up, down
//   qwen2   Qwen2 / Qwen2.5 (llama blocks + q/k/v biases)       q, k, v, o, gate, up, down
//   bert    BERT, MiniLM encoders                               q, k, v, attn-out, intermediate, output
//
// This header depends on nothing but core/: it is the one part of model/ that design/ includes
// (docs/architecture.md), so the layering stays design → model/family.hpp, never model → design
// → model.
#pragma once

#include "lowrank/core/errors.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lowrank {

/// The architecture is not one of the supported families; the message lists them.
struct architecture_error : error {
    using error::error;
};

}  // namespace lowrank

namespace lowrank::model {

/// A model family: one naming scheme (model/names.hpp) and one block structure (design::architecture).
enum class family { llama, qwen2, bert };

/// What a tensor is.
enum class tensor_kind {
    weight,     ///< a decomposable linear weight, [out, in]
    bias,       ///< bias of a linear layer (role says which; none for other biases)
    embedding,  ///< token / position / token-type embedding table
    norm,       ///< layer- or RMS-norm scale or shift
    lm_head,    ///< output projection to the vocabulary (untied)
    buffer,     ///< non-parameter buffer (position_ids, rotary inv_freq)
    head,       ///< task head or pooler (linear, but outside the study's decomposition set)
    unknown,    ///< not in the family's table
};

/// Role of a linear weight (or its bias) inside a transformer block.
enum class role { none, q, k, v, o, gate, up, down, attn_out, intermediate, output };

namespace detail {
// How files name each family: config.json model_type and architectures[] entries, GGUF
// general.architecture.
inline constexpr std::string_view llama_file_names[] = {"llama", "LlamaForCausalLM", "LlamaModel", "mistral",
                                                        "MistralForCausalLM"};
inline constexpr std::string_view qwen2_file_names[] = {"qwen2", "Qwen2ForCausalLM", "Qwen2Model"};
inline constexpr std::string_view bert_file_names[] = {"bert", "BertModel", "BertForMaskedLM", "BertForPreTraining",
                                                       "BertForSequenceClassification"};
}  // namespace detail

/// What the code knows about a family beyond its tensor table (model/names.hpp).
struct family_info {
    model::family family;
    std::string_view name;                         ///< as γ, `lowrank plan` and the manifests spell it
    std::span<const std::string_view> file_names;  ///< model_type, architectures[], general.architecture
    bool decoder;                                  ///< llama block structure (RMSNorm, SwiGLU, 7 weights); else BERT's
    bool gguf_qk_interleaved;                      ///< GGUF converters store q/k rows interleaved per head (Llama)
};

/// Every family, in enum order (checked below). A new family is a value in the enum and one line
/// here, plus its tensor table (model/names.hpp) and its design-space constructor
/// (docs/architecture.md).
inline constexpr family_info families[] = {
    {family::llama, "llama", detail::llama_file_names, true, true},
    {family::qwen2, "qwen2", detail::qwen2_file_names, true, false},
    {family::bert, "bert", detail::bert_file_names, false, false},
};

namespace detail {
constexpr bool families_in_enum_order() {
    for (std::size_t i = 0; i < std::size(families); ++i)
        if (static_cast<std::size_t>(families[i].family) != i) return false;
    return true;
}
static_assert(families_in_enum_order(), "model::families[] must list the families in enum order");
}  // namespace detail

/// The descriptor of family `f`.
constexpr const family_info& traits(family f) { return families[static_cast<std::size_t>(f)]; }

/// True for the decoder families (llama block structure: RMSNorm, SwiGLU, 7 weights).
constexpr bool is_decoder(family f) { return traits(f).decoder; }

inline constexpr std::string_view to_string(family f) { return traits(f).name; }
inline constexpr std::string_view to_string(tensor_kind k) {
    constexpr std::string_view n[] = {"weight", "bias", "embedding", "norm", "lm_head", "buffer", "head", "unknown"};
    return n[static_cast<int>(k)];
}
/// The role's name as γ documents, `lowrank plan` and the manifests spell it ("-" for none).
inline constexpr std::string_view to_string(role r) {
    constexpr std::string_view n[] = {"-", "q", "k", "v", "o", "gate", "up", "down", "attn-out", "intermediate", "output"};
    return n[static_cast<int>(r)];
}

/// The decomposable roles of a family's block, in block order.
inline std::span<const role> block_roles(family f) {
    static constexpr role decoder[] = {role::q, role::k, role::v, role::o, role::gate, role::up, role::down};
    static constexpr role encoder[] = {role::q, role::k, role::v, role::attn_out, role::intermediate, role::output};
    if (is_decoder(f)) return decoder;
    return encoder;
}

/// The family named by `name` ("llama", "qwen2", "bert"); nullopt otherwise. (File-format names
/// such as "LlamaForCausalLM": family_of.)
inline std::optional<family> parse_family(std::string_view name) {
    for (const auto& fi : families)
        if (fi.name == name) return fi.family;
    return std::nullopt;
}

/// The names files use for family `f` (model_type, architectures[] entries, GGUF architecture).
inline std::span<const std::string_view> file_names(family f) { return traits(f).file_names; }

/// "llama (llama, LlamaForCausalLM, ...); qwen2 (...); bert (...)" — for error messages.
inline std::string supported_families() {
    std::string s;
    for (const auto& fi : families) {
        if (!s.empty()) s += "; ";
        s += std::string(fi.name) + " (";
        for (std::size_t i = 0; i < fi.file_names.size(); ++i) s += (i ? ", " : "") + std::string(fi.file_names[i]);
        s += ")";
    }
    return s;
}

/// The family of a config.json model_type, an architectures[] entry or a GGUF
/// general.architecture value; nullopt when unknown.
inline std::optional<family> family_of(std::string_view name) {
    for (const auto& fi : families)
        for (auto n : fi.file_names)
            if (n == name) return fi.family;
    return std::nullopt;
}

/// As family_of, but throws architecture_error listing the supported families.
inline family family_from_name(std::string_view name) {
    if (auto f = family_of(name)) return *f;
    throw architecture_error("unsupported architecture '" + std::string(name) + "'; supported: " + supported_families());
}

/// The family of a parsed Hugging Face config.json (model_type, else the first known
/// architectures[] entry); nullopt when neither names a supported family.
inline std::optional<family> family_of_config(const nlohmann::json& config) {
    if (!config.is_object()) return std::nullopt;
    if (config.contains("model_type") && config["model_type"].is_string())
        if (auto f = family_of(config["model_type"].get<std::string>())) return f;
    if (config.contains("architectures") && config["architectures"].is_array())
        for (const auto& n : config["architectures"])
            if (n.is_string())
                if (auto f = family_of(n.get<std::string>())) return f;
    return std::nullopt;
}

/// As family_of_config, but throws architecture_error naming what the config says and listing the
/// supported families (model_source adds the file's path).
inline family family_from_config(const nlohmann::json& config) {
    if (auto f = family_of_config(config)) return *f;
    std::string seen;
    if (config.is_object() && config.contains("model_type") && config["model_type"].is_string())
        seen = config["model_type"].get<std::string>();
    if (seen.empty() && config.is_object() && config.contains("architectures") && config["architectures"].is_array())
        for (const auto& n : config["architectures"])
            if (n.is_string()) {
                seen = n.get<std::string>();
                break;
            }
    throw architecture_error("unsupported architecture '" + (seen.empty() ? std::string("(none given)") : seen) +
                             "' in config.json; supported: " + supported_families());
}

/// The decomposable role `name` of family `f`'s block, accepting "attn_out" for "attn-out" and,
/// for BERT, "o" for its attention output. nullopt when the family has no such role.
inline std::optional<role> parse_role(family f, std::string_view name) {
    std::string n(name);
    for (auto& c : n)
        if (c == '_') c = '-';
    if (f == family::bert && n == "o") n = "attn-out";
    for (auto r : block_roles(f))
        if (to_string(r) == n) return r;
    return std::nullopt;
}

}  // namespace lowrank::model
