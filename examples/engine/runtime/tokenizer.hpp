// The tokenizer of a Llama-family model.
// From a GGUF file, chosen by tokenizer.ggml.model:
//   "gpt2"  → bpe_tokenizer (byte-level BPE; pre-tokenizer from tokenizer.ggml.pre)
//   "llama" → spm_tokenizer (SentencePiece BPE with byte fallback: Llama-1/2, Mistral v0.1)
// From a Hugging Face model directory (from_hf_dir):
//   tokenizer.json (byte-level BPE: SmolLM2, Qwen2, Llama-3) → bpe_tokenizer::from_tokenizer_json
//   else tokenizer.model → sentencepiece_tokenizer (libsentencepiece; only when built with it,
//        LOWRANK_HAVE_SENTENCEPIECE, otherwise an error saying what to install)
// Anything else is an error naming the file and the value (never a silent fallback).
#pragma once

#include "lowrank/io/gguf.hpp"
#include "runtime/bpe_tokenizer.hpp"
#include "runtime/spm_tokenizer.hpp"
#ifdef LOWRANK_HAVE_SENTENCEPIECE
#include "runtime/sentencepiece_tokenizer.hpp"
#endif

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lowrank::runtime {

class gguf_tokenizer {
    template <class F>
    decltype(auto) visit(F&& f) const { return std::visit(std::forward<F>(f), t_); }

public:
    gguf_tokenizer() = default;
    explicit gguf_tokenizer(bpe_tokenizer t) : t_(std::move(t)) {}
    explicit gguf_tokenizer(spm_tokenizer t) : t_(std::move(t)) {}
#ifdef LOWRANK_HAVE_SENTENCEPIECE
    explicit gguf_tokenizer(sentencepiece_tokenizer t) : t_(std::move(t)) {}
#endif

    static gguf_tokenizer from_gguf(const gguf_file& f) {
        const auto* m = f.find("tokenizer.ggml.model");
        if (!m) throw std::runtime_error(f.path + ": no tokenizer.ggml.model (the file carries no tokenizer)");
        const std::string model = m->as_string();
        if (model == "gpt2") return gguf_tokenizer(bpe_tokenizer::from_gguf(f));
        if (model == "llama") return gguf_tokenizer(spm_tokenizer::from_gguf(f));
        throw std::runtime_error(f.path + ": tokenizer.ggml.model '" + model +
                                 "' is not supported (gpt2: byte-level BPE, llama: SentencePiece)");
    }

    /// The tokenizer of a Hugging Face model directory: tokenizer.json (byte-level BPE), else
    /// tokenizer.model (SentencePiece, needs libsentencepiece). Throws naming the directory
    /// when it has neither, or the file when it cannot be used.
    static gguf_tokenizer from_hf_dir(const std::string& dir) {
        namespace fs = std::filesystem;
        const fs::path json = fs::path(dir) / "tokenizer.json", model = fs::path(dir) / "tokenizer.model";
        if (fs::exists(json)) return gguf_tokenizer(bpe_tokenizer::from_tokenizer_json(json.string()));
        if (fs::exists(model)) {
#ifdef LOWRANK_HAVE_SENTENCEPIECE
            return gguf_tokenizer(sentencepiece_tokenizer::from_model_file(model.string()));
#else
            throw std::runtime_error(model.string() + ": reading SentencePiece tokenizer.model files needs libsentencepiece "
                                     "(apt-get install libsentencepiece-dev, then reconfigure and rebuild), or give "
                                     "the model as a GGUF file");
#endif
        }
        throw std::runtime_error(dir + ": no tokenizer.json or tokenizer.model in the model directory");
    }

    /// "gpt2" (byte-level BPE) or "llama" (SentencePiece: GGUF metadata or a tokenizer.model);
    /// the GGUF tokenizer.ggml.model names.
    std::string_view kind() const { return std::holds_alternative<bpe_tokenizer>(t_) ? "gpt2" : "llama"; }
    const bpe_tokenizer* bpe() const { return std::get_if<bpe_tokenizer>(&t_); }
    const spm_tokenizer* spm() const { return std::get_if<spm_tokenizer>(&t_); }

    std::size_t vocab_size() const { return visit([](const auto& t) { return t.vocab_size(); }); }
    int bos() const { return visit([](const auto& t) { return t.bos(); }); }
    int eos() const { return visit([](const auto& t) { return t.eos(); }); }
    bool add_bos() const { return visit([](const auto& t) { return t.add_bos(); }); }
    const std::string& token(int id) const {
        return visit([&](const auto& t) -> const std::string& { return t.token(id); });
    }
    bool is_control(int id) const { return visit([&](const auto& t) { return t.is_control(id); }); }
    /// Token ids of `text`; `parse_special` is ignored by libsentencepiece (text stays text).
    std::vector<int> encode(std::string_view text, bool parse_special = true) const {
        return visit([&](const auto& t) {
            if constexpr (requires { t.encode(text, parse_special); }) return t.encode(text, parse_special);
            else return t.encode(text);
        });
    }
    std::string decode_token(int id) const { return visit([&](const auto& t) { return t.decode_token(id); }); }
    std::string decode(const std::vector<int>& ids) const { return visit([&](const auto& t) { return t.decode(ids); }); }

private:
#ifdef LOWRANK_HAVE_SENTENCEPIECE
    std::variant<bpe_tokenizer, spm_tokenizer, sentencepiece_tokenizer> t_;
#else
    std::variant<bpe_tokenizer, spm_tokenizer> t_;
#endif
};

}  // namespace lowrank::runtime
