// `lowrank export-hf`: a lowrank factorised file (include/lowrank/io/factorized.hpp) as a Hugging
// Face model directory that transformers loads with the shipped modelling file
// (examples/hf/modeling_lowrank.py) — factorised layers stay factorised.
//
// What is written (docs/interop.md has the whole format):
//   config.json         the source model's configuration (its config.json, or one built from the
//                       GGUF metadata), plus "lowrank" (format, per-module rank/form/core, method,
//                       provenance, parameter counts), "auto_map" → modeling_lowrank.<class>,
//                       "architectures" [<class>], dtype float32
//   modeling_lowrank.py the modelling file (LowRankLinear; LowRank{Llama,Qwen2}ForCausalLM, LowRankBertModel)
//   model-0000k-of-0000N.safetensors + model.safetensors.index.json
//                       every tensor under its Hugging Face name; a factorised weight B.weight
//                       [out, in] of rank r becomes B.lowrank_v.weight [r, in] (= vᵀ) and
//                       B.lowrank_u.weight [out, r] (= u, or u·core for tucker2 with the core
//                       folded — the default), or with the core kept also B.lowrank_core.weight
//                       [r, r]; its bias stays B.bias. Dense tensors are copied byte for byte in
//                       their stored dtype; factors are F32.
//   tokenizer files     copied from an HF source (allow-list below); for a GGUF source written
//                       from its vocabulary (runtime/hf_tokenizer_json.hpp)
//   lowrank_manifest.json  the factorised file's manifest (provenance)
//   lowrank_recipe.json the recipe that reproduces the factorised file (when its manifest has one)
//
// Folding the core: y = u (core (vᵀx)) and y = (u·core)(vᵀx) cost the same per token when the
// core is square (r·in + r·out multiply-adds either way, plus r² for the kept core), and the
// folded form has r² fewer parameters. The product is computed once in float32 (BLAS).
//
// Validation before anything is written: the factorised file is validated by factorized_model,
// its source located and sha256-checked (runtime/factorized_loader.hpp), and the runtime's own
// model builder (build_llama / build_bert) is run over the file's names and shapes only, so every
// tensor the model needs must be present with its configured shape and only linear weights may
// be factorised; a tensor the model does not use is an error, except the non-persistent buffers
// transformers recreates (embeddings.position_ids, rotary inv_freq), which are dropped. Every
// error is a lowrank error naming the file and the tensor (io_error; architecture_error for a
// family the model layer does not know).
//
// Writing is atomic: everything goes to a hidden staging directory beside the target, renamed
// to the target only when complete (an existing target is refused unless `overwrite`, and then
// swapped out only after the new directory is complete). The inputs are only ever read; a
// target that is, or contains, an input is refused.
#pragma once

#include "runtime/factorized_loader.hpp"
#include "lowrank/model/hf_names.hpp"
#include "runtime/hf_tokenizer_json.hpp"
#include "runtime/ops.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace lowrank::runtime {

struct hf_export_options {
    std::string out;                                ///< the directory to create
    bool overwrite = false;                         ///< replace an existing directory
    std::uint64_t shard_bytes = 5'000'000'000ULL;   ///< most bytes of tensor data per shard (a bigger tensor gets its own)
    bool keep_core = false;                         ///< tucker2: keep the r×r core as a third factor instead of folding it into u
    std::string source_override;                    ///< the factorised file's source model, if it moved
    std::string modeling_py;                        ///< text of modeling_lowrank.py (the CLI embeds it)
    nlohmann::json extra = nlohmann::json::object();  ///< merged into config.json's "lowrank" object
    int threads = 1;                                ///< BLAS threads for folding cores
    /// Called before each tensor is written (done, total); may throw to cancel (nothing is left).
    std::function<void(std::size_t, std::size_t)> progress;
};

struct hf_export_result {
    std::string family;                      ///< llama, qwen2 or bert
    std::string model_class;                 ///< the modelling file's class auto_map names
    std::size_t tensors = 0, factorised = 0, shards = 0;
    std::uint64_t bytes = 0;                 ///< tensor data bytes written
    std::uint64_t parameters = 0;            ///< parameters in the export (= what transformers counts)
    std::uint64_t file_parameters = 0;       ///< the factorised file's count (manifest parameters_after)
    std::uint64_t folded_core_parameters = 0;  ///< Σ r² removed by folding tucker2 cores
    std::uint64_t dropped_buffer_elements = 0;  ///< buffers not written (counted in the file, not by transformers)
    std::vector<std::string> dropped;        ///< their names
    std::string tokenizer;                   ///< where the tokenizer came from
    nlohmann::json lowrank;                  ///< config.json's "lowrank" object
};

namespace detail {

/// A shape-only weight source over a factorised file: the runtime's model builders run on it to
/// check names and shapes; every name they touch is recorded in `used`. No tensor data is read.
inline weight_source shape_only_source(const factorized_model& fm, std::set<std::string>& used) {
    weight_source s;
    s.where = fm.path();
    s.has = [&fm](const std::string& n) { return fm.contains(n); };
    s.shape = [&fm, &used](const std::string& n) {
        used.insert(n);
        return fm.at(n).shape;
    };
    s.dense = [&fm, &used](const std::string& n) {
        used.insert(n);
        if (fm.at(n).factored)
            throw io_error(fm.path(), "tensor '" + n + "' is stored factorised, but the model needs it dense "
                                      "(only linear-layer weights can be factorised)");
        return std::vector<float>{};
    };
    s.lin = [&fm, &used](const std::string& n, std::vector<float>) {
        used.insert(n);
        linear l;
        l.out = fm.at(n).shape[0], l.in = fm.at(n).shape[1];
        return l;
    };
    return s;
}

/// Tokenizer and generation files copied from a Hugging Face source directory.
inline constexpr const char* hf_tokenizer_files[] = {
    "tokenizer.json",      "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",  "vocab.json",
    "merges.txt",          "tokenizer.model",       "added_tokens.json",       "chat_template.jinja",
    "generation_config.json"};

/// The Hugging Face config.json of a GGUF Llama / Qwen2 model (transformers' LlamaConfig /
/// Qwen2Config keys; RoPE θ both as rope_theta and as transformers 5's rope_parameters).
inline nlohmann::json hf_config_from_gguf(const gguf_file& f, model::family fam, const llama_config& c, bool tied) {
    nlohmann::json j = {{"model_type", std::string(model::to_string(fam))},
                        {"hidden_size", c.hidden},
                        {"intermediate_size", c.intermediate},
                        {"num_hidden_layers", c.layers},
                        {"num_attention_heads", c.heads},
                        {"num_key_value_heads", c.kv_heads},
                        {"head_dim", c.head_dim},
                        {"vocab_size", c.vocab},
                        {"max_position_embeddings", c.context},
                        {"rms_norm_eps", static_cast<double>(c.rms_eps)},
                        {"rope_theta", c.rope_theta},
                        {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", c.rope_theta}}},
                        {"hidden_act", "silu"},
                        {"initializer_range", 0.02},
                        {"tie_word_embeddings", tied},
                        {"use_cache", true}};
    if (fam == model::family::llama) j["attention_bias"] = false, j["mlp_bias"] = false;
    if (fam == model::family::qwen2) j["use_sliding_window"] = false;
    auto id = [&](const char* key, const char* name) {
        if (const auto* v = f.find(key)) j[name] = v->to_int();
    };
    id("tokenizer.ggml.bos_token_id", "bos_token_id");
    id("tokenizer.ggml.eos_token_id", "eos_token_id");
    id("tokenizer.ggml.padding_token_id", "pad_token_id");
    return j;
}

/// Atomic directory commit: `staging` becomes `target` (an existing `target` is swapped out and
/// removed only after the rename, when `overwrite`).
inline void commit_directory(const std::filesystem::path& staging, const std::filesystem::path& target, bool overwrite) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(fs::symlink_status(target, ec))) {
        if (!overwrite) throw io_error(target.string(), "exists (use --overwrite to replace it)");
        if (!fs::is_directory(target)) throw io_error(target.string(), "exists and is not a directory; not replaced");
        const fs::path old = staging.string() + ".old";
        fs::rename(target, old);
        try {
            fs::rename(staging, target);
        } catch (...) {
            fs::rename(old, target, ec);  // put the previous directory back
            throw;
        }
        fs::remove_all(old, ec);
        return;
    }
    fs::rename(staging, target);
}

}  // namespace detail

/// Writes the Hugging Face directory of factorised file `path` (see the file comment).
hf_export_result export_hf(const std::string& path, const hf_export_options& opt);

}  // namespace lowrank::runtime

#include "runtime/detail/hf_export_impl.hpp"
