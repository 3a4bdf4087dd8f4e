// lowrank embed MODEL --text TEXT [--text TEXT ...] [--max-length N] [--source DIR] [--threads N]
// Sentence embeddings with a BERT encoder (all-MiniLM-L6-v2 style: mean pooling, L2 norm) from
// a Hugging Face directory (config.json, model.safetensors, vocab.txt) or a factorised file
// written by `lowrank decompose` from one (configuration and vocabulary from the source
// directory its manifest records, or --source). Prints one JSON object
// with the embeddings and their pairwise cosine similarities.
#include "cli/command.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/wordpiece_tokenizer.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace cmd_embed {

using namespace lowrank::runtime;

struct embed_args {
    std::string model, source;
    std::vector<std::string> texts;
    std::size_t max_length = 256;  // sentence-transformers' max_seq_length for all-MiniLM-L6-v2
    int threads = 2;
};

int run(const embed_args& a) {
    namespace fs = std::filesystem;
    if (!fs::exists(a.model)) throw lowrank::cli::usage_error(a.model + ": no such file or directory");
    opened_bert o = open_bert(a.model, a.source);
    const std::string dir = o.dir;  // config, vocabulary: the model directory or the factorised file's source
    if (!fs::exists(fs::path(dir) / "vocab.txt")) throw lowrank::cli::usage_error(dir + ": no vocab.txt");
    bool lower = true;
    if (std::ifstream tc(fs::path(dir) / "tokenizer_config.json"); tc)
        lower = nlohmann::json::parse(tc).value("do_lower_case", true);
    std::size_t max_length = a.max_length;
    if (std::ifstream sb(fs::path(dir) / "sentence_bert_config.json"); sb && max_length == 0)
        max_length = nlohmann::json::parse(sb).value("max_seq_length", 256);
    const auto tok = wordpiece_tokenizer::from_vocab_file((fs::path(dir) / "vocab.txt").string(), lower);
    bert_model model(std::move(o.weights), a.threads);
    std::vector<std::vector<int>> batch;
    for (const auto& t : a.texts) batch.push_back(tok.encode(t, max_length ? max_length : 512));
    const auto e = model.embed(batch);
    const std::size_t h = model.config().hidden;
    nlohmann::json out{{"model", a.model}, {"dimension", h}, {"embeddings", nlohmann::json::array()},
                       {"tokens", nlohmann::json::array()}, {"cosine", nlohmann::json::array()}};
    for (std::size_t b = 0; b < batch.size(); ++b) {
        out["embeddings"].push_back(std::vector<float>(e.begin() + long(b * h), e.begin() + long((b + 1) * h)));
        out["tokens"].push_back(batch[b]);
        std::vector<double> row;
        for (std::size_t c = 0; c < batch.size(); ++c) {
            double s = 0;
            for (std::size_t i = 0; i < h; ++i) s += double(e[b * h + i]) * e[c * h + i];
            row.push_back(s);
        }
        out["cosine"].push_back(row);
    }
    std::cout << out.dump() << "\n";
    return 0;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<embed_args>();
    auto* sub = app.add_subcommand("embed", "Sentence embeddings with a BERT encoder (mean pooling, L2-normalised)");
    sub->add_option("model", a->model,
                     "Hugging Face model directory (config.json, model.safetensors, vocab.txt) or a factorised file of one")
        ->required();
    sub->add_option("--source", a->source, "factorised MODEL: its source directory (default: the path its manifest records)");
    sub->add_option("--text", a->texts, "text to embed (repeatable)")->required();
    sub->add_option("--max-length", a->max_length, "truncate to this many tokens including [CLS]/[SEP]");
    sub->add_option("--threads", a->threads, "BLAS threads")->check(CLI::PositiveNumber);
    sub->callback([a, exit_code] { *exit_code = run(*a); });
}

const lowrank::cli::registrar reg{"embed", install};

}  // namespace cmd_embed
