// The design-space description (design::architecture) of a model, read from the model's own
// files: a Hugging Face config.json (design::from_hf_config) or a GGUF file's metadata, read
// directly — `<arch>.embedding_length`, `.feed_forward_length`, `.block_count`,
// `.attention.head_count`, `.attention.head_count_kv` (default: head_count), the vocabulary from
// token_embd.weight's rows and tied embeddings from the absence of output.weight.
//
// Adding a family: its file names (model/family.hpp), its tensor table (model/names.hpp), and
// its constructor — a branch of design::from_hf_config and, for GGUF, of architecture_from_gguf.
#pragma once

#include "lowrank/design/architecture.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/model/family.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace lowrank::model {

/// The architecture described by a parsed config.json; `name` defaults to its model_type.
/// Throws invalid_argument naming a missing or malformed field (design::from_hf_config).
inline design::architecture architecture_from_config(const nlohmann::json& config, std::string name = {}) {
    return design::from_hf_config(config, std::move(name));
}

/// The architecture described by a GGUF file's metadata; `name` defaults to its
/// general.architecture. Throws architecture_error for an unsupported or BERT GGUF file, and
/// io_error / invalid_argument naming the file and key for missing or malformed metadata.
inline design::architecture architecture_from_gguf(const gguf_file& f, std::string name = {}) {
    const std::string a = f.architecture();
    const family fam = family_from_name(a.empty() ? "(no general.architecture)" : a);
    if (!is_decoder(fam))
        throw architecture_error(f.path + ": the design space of a " + a + " GGUF file is not supported (give the "
                                          "Hugging Face directory)");
    auto count = [&](const std::string& key) -> std::uint64_t {
        const std::int64_t v = f.at(a + "." + key).to_int();
        if (v <= 0) throw io_error(f.path, "metadata " + a + "." + key + " must be positive");
        return static_cast<std::uint64_t>(v);
    };
    design::architecture d;
    d.name = name.empty() ? a : std::move(name);
    d.kind = fam;
    d.hidden = count("embedding_length");
    d.intermediate = count("feed_forward_length");
    d.layers = count("block_count");
    d.heads = count("attention.head_count");
    d.kv_heads = f.find(a + ".attention.head_count_kv") ? count("attention.head_count_kv") : d.heads;
    d.head_dim = d.hidden / d.heads;
    const auto& emb = f.tensor("token_embd.weight");
    if (emb.shape.size() != 2) throw io_error(f.path, "token_embd.weight is not a matrix");
    d.vocab = emb.shape[0];
    d.tied_embeddings = f.find_tensor("output.weight") == nullptr;
    d.qkv_bias = fam == family::qwen2;
    d.validate();
    return d;
}

}  // namespace lowrank::model
