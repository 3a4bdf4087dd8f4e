// A Hugging Face tokenizer.json + tokenizer_config.json from a GGUF file's byte-level BPE
// vocabulary (tokenizer.ggml.model "gpt2"), for `lowrank export-hf` of a GGUF-sourced model.
//
// The pipeline mirrors what bpe_tokenizer runs for the GGUF's tokenizer.ggml.pre (and what
// bpe_tokenizer::from_tokenizer_json reads back), in the layout Hugging Face `tokenizers` writes:
//
//   tokenizer.ggml.pre                       normalizer  pre_tokenizer                                       model
//   gpt2, default, absent                    none        ByteLevel(use_regex)                                BPE
//   smollm, starcoder, refact, codeshell,    none        Sequence[Digits(individual_digits),                BPE
//   exaone, command-r, minerva                           ByteLevel(use_regex)]
//   qwen2                                    NFC         Sequence[Split(Qwen2 regex, Isolated),             BPE
//                                                        ByteLevel(use_regex=false)]
//   llama3, llama-v3, llama-bpe              none        Sequence[Split(Llama-3 regex, Isolated),           BPE, ignore_merges
//                                                        ByteLevel(use_regex=false)]
//
// vocab = tokenizer.ggml.tokens (id = position), merges = tokenizer.ggml.merges ("a b"), control
// tokens (type 3) as special added tokens and user-defined ones (type 4) as non-special added
// tokens (both matched verbatim, never normalised), ByteLevel decoder; a TemplateProcessing
// post-processor that prepends BOS when tokenizer.ggml.add_bos_token is true.
// tokenizer_config.json: bos/eos/unk/pad tokens from their ids, add_bos_token, add_eos_token,
// model_max_length (the GGUF context length), chat_template (tokenizer.chat_template).
//
// SentencePiece vocabularies (tokenizer.ggml.model "llama") and anything else are refused with an
// error naming the file: the runtime reads only byte-level BPE tokenizer.json files, so a file
// it could not verify is never written. One known difference: the Qwen2 pipeline applies NFC
// in Hugging Face, the runtime does not (identical for NFC text; docs/runtime.md).
#pragma once

#include "lowrank/io/gguf.hpp"
#include "runtime/bpe_tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lowrank::runtime {

namespace detail {
inline const char* qwen2_split_regex() {
    return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
           "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}
inline const char* llama3_split_regex() {
    return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
           "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}
inline nlohmann::json byte_level_pre(bool use_regex) {
    return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}
inline std::string gguf_pre_name(const gguf_file& f) {
    const auto* pre = f.find("tokenizer.ggml.pre");
    return pre ? pre->as_string() : std::string("gpt2");
}
}  // namespace detail

/// tokenizer.json for the GGUF's byte-level BPE vocabulary (table above). Throws
/// io_error naming the file for a vocabulary it cannot express.
inline nlohmann::json tokenizer_json_from_gguf(const gguf_file& f) {
    using nlohmann::json;
    const auto* model = f.find("tokenizer.ggml.model");
    if (!model) throw io_error(f.path, "no tokenizer (tokenizer.ggml.model is missing)");
    if (model->as_string() != "gpt2")
        throw io_error(f.path, "tokenizer.ggml.model '" + model->as_string() +
                                 "' is not byte-level BPE; only byte-level BPE vocabularies (\"gpt2\") can be written as "
                                 "tokenizer.json here");
    const std::string pre_name = detail::gguf_pre_name(f);
    bpe_tokenizer::pre_type pre;
    try {
        pre = bpe_tokenizer::pre_type_of(pre_name);
    } catch (const std::runtime_error& e) {
        throw io_error(f.path, std::string("tokenizer.ggml.pre: ") + e.what());
    }
    const auto& tokens = f.at("tokenizer.ggml.tokens").strings;
    std::vector<std::int32_t> types(tokens.size(), 1);
    if (const auto* t = f.find("tokenizer.ggml.token_type")) {
        types = t->array_of<std::int32_t>();
        if (types.size() != tokens.size())
            throw io_error(f.path, "tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                                     " entries for " + std::to_string(tokens.size()) + " tokens");
    }
    json vocab = json::object(), added = json::array(), merges = json::array();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (vocab.contains(tokens[i]))
            throw io_error(f.path, "token '" + tokens[i] + "' appears twice (ids " +
                                     std::to_string(vocab[tokens[i]].get<std::size_t>()) + " and " + std::to_string(i) + ")");
        vocab[tokens[i]] = i;
        if (types[i] == 3 || types[i] == 4)
            added.push_back({{"id", i}, {"content", tokens[i]}, {"single_word", false}, {"lstrip", false},
                             {"rstrip", false}, {"normalized", false}, {"special", types[i] == 3}});
    }
    for (const auto& m : f.at("tokenizer.ggml.merges").strings) merges.push_back(m);

    json normalizer = nullptr, pre_tok;
    using P = bpe_tokenizer::pre_type;
    switch (pre) {
        case P::gpt2: pre_tok = detail::byte_level_pre(true); break;
        case P::digits_then_gpt2:
            pre_tok = {{"type", "Sequence"},
                       {"pretokenizers", json::array({{{"type", "Digits"}, {"individual_digits", true}},
                                                      detail::byte_level_pre(true)})}};
            break;
        case P::qwen2:
        case P::llama3: {
            if (pre == P::qwen2) normalizer = {{"type", "NFC"}};
            const json split = {{"type", "Split"},
                                {"pattern", {{"Regex", pre == P::qwen2 ? detail::qwen2_split_regex() : detail::llama3_split_regex()}}},
                                {"behavior", "Isolated"},
                                {"invert", false}};
            pre_tok = {{"type", "Sequence"}, {"pretokenizers", json::array({split, detail::byte_level_pre(false)})}};
            break;
        }
    }
    json post = nullptr;
    const auto* add_bos = f.find("tokenizer.ggml.add_bos_token");
    const auto* bos = f.find("tokenizer.ggml.bos_token_id");
    if (add_bos && add_bos->get<bool>()) {
        if (!bos || bos->to_int() < 0 || static_cast<std::size_t>(bos->to_int()) >= tokens.size())
            throw io_error(f.path, "tokenizer.ggml.add_bos_token is true but there is no valid bos_token_id");
        const std::string b = tokens[static_cast<std::size_t>(bos->to_int())];
        post = {{"type", "TemplateProcessing"},
                {"single", json::array({{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                {"pair", json::array({{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                      {{"SpecialToken", {{"id", b}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
                {"special_tokens", {{b, {{"id", b}, {"ids", json::array({bos->to_int()})}, {"tokens", json::array({b})}}}}}};
    }
    return {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", normalizer},
            {"pre_tokenizer", pre_tok},
            {"post_processor", post},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"ignore_merges", pre == P::llama3},
              {"vocab", vocab},
              {"merges", merges}}}};
}

/// tokenizer_config.json for the same GGUF (special tokens by content, add_bos_token, context
/// length, chat template).
inline nlohmann::json tokenizer_config_from_gguf(const gguf_file& f, std::size_t context_length) {
    using nlohmann::json;
    const auto& tokens = f.at("tokenizer.ggml.tokens").strings;
    json c = {{"tokenizer_class", "PreTrainedTokenizerFast"},
              {"clean_up_tokenization_spaces", false},
              {"model_max_length", context_length}};
    auto special = [&](const char* key, const char* name) {
        const auto* v = f.find(key);
        if (!v) return;
        const std::int64_t id = v->to_int();
        if (id < 0 || static_cast<std::size_t>(id) >= tokens.size())
            throw io_error(f.path, std::string(key) + " = " + std::to_string(id) + " is not a token id (vocabulary of " +
                                     std::to_string(tokens.size()) + ")");
        c[name] = tokens[static_cast<std::size_t>(id)];
    };
    special("tokenizer.ggml.bos_token_id", "bos_token");
    special("tokenizer.ggml.eos_token_id", "eos_token");
    special("tokenizer.ggml.unknown_token_id", "unk_token");
    special("tokenizer.ggml.padding_token_id", "pad_token");
    const auto* add_bos = f.find("tokenizer.ggml.add_bos_token");
    const auto* add_eos = f.find("tokenizer.ggml.add_eos_token");
    c["add_bos_token"] = add_bos ? add_bos->get<bool>() : false;
    c["add_eos_token"] = add_eos ? add_eos->get<bool>() : false;
    if (const auto* t = f.find("tokenizer.chat_template")) c["chat_template"] = t->as_string();
    return c;
}

}  // namespace lowrank::runtime
