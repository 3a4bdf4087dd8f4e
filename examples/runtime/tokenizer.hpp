// The tokenizer a Llama-family GGUF file describes, chosen by tokenizer.ggml.model:
//   "gpt2"  → bpe_tokenizer (byte-level BPE; pre-tokenizer from tokenizer.ggml.pre)
//   "llama" → spm_tokenizer (SentencePiece BPE with byte fallback: Llama-1/2, Mistral v0.1)
// anything else is an error naming the file and the value (never a silent fallback).
#pragma once

#include "lowrank/io/gguf.hpp"
#include "runtime/bpe_tokenizer.hpp"
#include "runtime/spm_tokenizer.hpp"

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

    static gguf_tokenizer from_gguf(const gguf_file& f) {
        const auto* m = f.find("tokenizer.ggml.model");
        if (!m) throw std::runtime_error(f.path + ": no tokenizer.ggml.model (the file carries no tokenizer)");
        const std::string model = m->as_string();
        if (model == "gpt2") return gguf_tokenizer(bpe_tokenizer::from_gguf(f));
        if (model == "llama") return gguf_tokenizer(spm_tokenizer::from_gguf(f));
        throw std::runtime_error(f.path + ": tokenizer.ggml.model '" + model +
                                 "' is not supported (gpt2: byte-level BPE, llama: SentencePiece)");
    }

    /// "gpt2" or "llama" (the GGUF tokenizer.ggml.model name).
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
    std::vector<int> encode(std::string_view text, bool parse_special = true) const {
        return visit([&](const auto& t) { return t.encode(text, parse_special); });
    }
    std::string decode_token(int id) const { return visit([&](const auto& t) { return t.decode_token(id); }); }
    std::string decode(const std::vector<int>& ids) const { return visit([&](const auto& t) { return t.decode(ids); }); }

private:
    std::variant<bpe_tokenizer, spm_tokenizer> t_;
};

}  // namespace lowrank::runtime
