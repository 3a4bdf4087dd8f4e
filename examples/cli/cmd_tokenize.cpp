// lowrank tokenize MODEL --text TEXT [--text TEXT ...] [--no-special]
// Token ids of each text with the tokenizer MODEL describes, and the text decoded back:
//   *.gguf            tokenizer.ggml.* metadata (byte-level BPE or SentencePiece);
//   tokenizer.model   a SentencePiece model via libsentencepiece (when built with it);
//   a directory       its tokenizer.json (byte-level BPE, e.g. a `lowrank export-hf` directory; via
//                     gguf_tokenizer::from_hf_dir), else tokenizer.model (Hugging Face Llama-2 layout),
//                     else vocab.txt (BERT).
// Prints one JSON object: {"tokenizer": ..., "texts": [{"text", "ids", "pieces", "decoded"}]}.
#include "cli/command.hpp"
#include "lowrank/io/gguf.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/wordpiece_tokenizer.hpp"
#ifdef LOWRANK_HAVE_SENTENCEPIECE
#include "runtime/sentencepiece_tokenizer.hpp"
#endif

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <memory>

namespace cmd_tokenize {

namespace fs = std::filesystem;
using namespace lowrank;
using nlohmann::json;

struct tokenize_args {
    std::string model;
    std::vector<std::string> texts;
    bool no_special = false;
};

template <class Tok, class Encode>
json run_with(const Tok& tok, const std::string& kind, const std::vector<std::string>& texts, Encode encode) {
    json out{{"tokenizer", kind}, {"vocab_size", tok.vocab_size()}, {"texts", json::array()}};
    for (const auto& t : texts) {
        const std::vector<int> ids = encode(t);
        std::vector<std::string> pieces;
        for (int id : ids) pieces.push_back(tok.token(id));
        json row{{"text", t}, {"ids", ids}, {"pieces", pieces}};
        if constexpr (requires { tok.decode(ids); }) row["decoded"] = tok.decode(ids);
        out["texts"].push_back(row);
    }
    return out;
}

int run(const tokenize_args& a) {
    fs::path p(a.model);
    if (!fs::exists(p)) throw cli::usage_error(a.model + ": no such file or directory");
    json out;
    if (fs::is_directory(p) && fs::exists(p / "tokenizer.json") && !fs::exists(p / "vocab.txt")) {
        const auto tok = runtime::gguf_tokenizer::from_hf_dir(p.string());
        out = run_with(tok, std::string(tok.kind()), a.texts, [&](const std::string& t) { return tok.encode(t, !a.no_special); });
        out["path"] = (p / "tokenizer.json").string();
        std::cout << out.dump() << "\n";
        return 0;
    }
    if (fs::is_directory(p)) {
        if (fs::exists(p / "tokenizer.model")) p /= "tokenizer.model";
        else if (fs::exists(p / "vocab.txt")) p /= "vocab.txt";
        else throw cli::usage_error(a.model + ": no tokenizer.json, tokenizer.model or vocab.txt in this directory");
    }
    if (p.extension() == ".gguf") {
        const auto tok = runtime::gguf_tokenizer::from_gguf(read_gguf(p.string()));
        out = run_with(tok, std::string(tok.kind()), a.texts, [&](const std::string& t) { return tok.encode(t, !a.no_special); });
    } else if (p.filename() == "vocab.txt") {
        const auto tok = runtime::wordpiece_tokenizer::from_vocab_file(p.string());
        out = run_with(tok, "wordpiece", a.texts, [&](const std::string& t) { return tok.encode(t); });
    } else {
#ifdef LOWRANK_HAVE_SENTENCEPIECE
        const auto tok = runtime::sentencepiece_tokenizer::from_model_file(p.string());
        out = run_with(tok, "sentencepiece", a.texts, [&](const std::string& t) { return tok.encode(t); });
#else
        throw cli::usage_error(p.string() + ": reading SentencePiece tokenizer.model files needs libsentencepiece "
                               "(apt-get install libsentencepiece-dev, then rebuild); a GGUF file works without it");
#endif
    }
    out["path"] = p.string();
    std::cout << out.dump() << "\n";
    return 0;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<tokenize_args>();
    auto* sub = app.add_subcommand("tokenize", "Token ids of texts with a GGUF, tokenizer.model or vocab.txt tokenizer");
    sub->add_option("model", a->model, "a .gguf file, a SentencePiece tokenizer.model, or a model directory")->required();
    sub->add_option("--text", a->texts, "text to tokenize (repeatable)")->required();
    sub->add_flag("--no-special", a->no_special, "GGUF: treat special-token strings in the text as plain text");
    sub->callback([a, exit_code] { *exit_code = run(*a); });
}

const cli::registrar reg{"tokenize", install};

}  // namespace cmd_tokenize
