// lowrank generate MODEL --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--seed S]
//                  [--plan gamma.json] [--source SRC] [--threads N] [--score TEXT]
// Runs a Llama-family model on the prompt and prints the continuation (greedy at temperature
// 0). MODEL is a GGUF file, a Hugging Face directory (config.json, safetensors, tokenizer.json
// or tokenizer.model), or a factorised file written by `lowrank decompose` from either (its
// factorised layers run as factors; configuration and tokenizer come from the source model the
// manifest records, or --source). --plan factorises the γ's layers in memory first.
// --score TEXT prints log p(TEXT | prompt) instead of generating (perplexity-style scoring).
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "lowrank/io/npy.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/tokenizer.hpp"
#include "runtime/sampling.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

namespace cmd_generate {

using namespace lowrank;
using namespace lowrank::runtime;

struct generate_args {
    std::string model, prompt, plan, source, score, logits_out, tokens_out;
    std::size_t max_tokens = 32, top_k = 0;
    float temperature = 0.f;
    std::uint64_t seed = 0;
    int threads = 2;
    std::string weights = "f32";
    bool no_special = false;
};

double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int run(const generate_args& a) {
    if (!std::filesystem::exists(a.model)) throw cli::usage_error(a.model + ": no such file or directory");
    auto t0 = std::chrono::steady_clock::now();
    opened_llama o = open_llama(a.model, a.source, 4096, load_options{a.weights == "bf16" && a.plan.empty()});
    if (o.source && !a.plan.empty())
        throw cli::usage_error("--plan: " + a.model + " is already a factorised file; give --plan with the dense model");
    // GGUF metadata, or the HF directory's tokenizer.json / tokenizer.model
    const gguf_tokenizer tok = open_llama_tokenizer(o);
    llama_model model(std::move(o.weights), a.threads);
    std::cerr << "loaded " << a.model;
    if (o.source)
        std::cerr << " (factorised: " << o.factorised_layers << " layers; configuration and tokenizer from "
                  << o.source->path << (o.source->verified ? ", sha256 verified" : "") << ")";
    std::cerr << " (" << model.weights().parameters() << " parameters, " << since(t0) << " s)\n";
    if (!a.plan.empty()) {
        std::ifstream in(a.plan);
        if (!in) throw cli::usage_error(a.plan + ": cannot open");
        t0 = std::chrono::steady_clock::now();
        const auto steps = apply_plan(model.exec(), model.weights(), nlohmann::json::parse(in));
        std::size_t kept = 0;
        for (const auto& s : steps)
            if (s.kept_dense) {
                ++kept;
                std::cerr << "layer " << s.layer << " " << model::to_string(s.role) << ": rank " << s.rank
                          << " would not save parameters; kept dense\n";
            }
        std::cerr << "plan " << a.plan << ": " << steps.size() - kept << " layers factorised, now "
                  << model.weights().parameters() << " parameters (" << since(t0) << " s)\n";
    }
    if (a.weights != "f32") {
        model.weights().store_as(a.weights);
        std::cerr << "weights stored as " << a.weights << ": " << model.weights().bytes() << " bytes\n";
    }
    std::vector<int> ids;
    if (tok.add_bos() && tok.bos() >= 0) ids.push_back(tok.bos());
    const auto p = tok.encode(a.prompt, !a.no_special);
    ids.insert(ids.end(), p.begin(), p.end());
    if (ids.empty()) throw cli::usage_error("the prompt is empty");

    if (!a.score.empty()) {
        const auto cont = tok.encode(a.score, !a.no_special);
        const auto r = model.score(ids, cont);
        nlohmann::json j{{"context_tokens", ids.size()},  {"continuation_tokens", cont.size()},
                         {"logprob", r.total},            {"per_token", r.per_token},
                         {"greedy_matches", r.greedy_matches},
                         {"perplexity", cont.empty() ? 0.0 : std::exp(-r.total / double(cont.size()))},
                         {"bits_per_byte", a.score.empty() ? 0.0 : -r.total / std::log(2.0) / double(a.score.size())}};
        std::cout << j.dump(2) << "\n";
        return 0;
    }

    kv_cache cache = model.make_cache(1, std::min(model.config().context, ids.size() + a.max_tokens));
    sampler pick(a.temperature, a.seed, a.top_k);
    t0 = std::chrono::steady_clock::now();
    auto logits = model.forward(ids.data(), ids.size(), cache);
    const double prefill = since(t0);
    std::cout << a.prompt << std::flush;
    std::size_t generated = 0;
    std::vector<int> out_ids;
    t0 = std::chrono::steady_clock::now();
    for (; generated < a.max_tokens && cache.length < cache.capacity; ++generated) {
        const int next = pick(logits.data(), model.config().vocab);
        if (next == tok.eos()) break;
        out_ids.push_back(next);
        std::cout << tok.decode_token(next) << std::flush;
        logits = model.forward(&next, 1, cache);
    }
    const double decode = since(t0);
    std::cout << "\n";
    if (!a.logits_out.empty()) {  // logits of prompt + generated tokens, one pass: [n, vocab]
        std::vector<int> seq(ids);
        seq.insert(seq.end(), out_ids.begin(), out_ids.end());
        kv_cache c2 = model.make_cache(1, seq.size());
        const auto all = model.forward(seq.data(), seq.size(), c2, true);
        npy_save(a.logits_out, all.data(), {seq.size(), model.config().vocab});
    }
    if (!a.tokens_out.empty()) {
        std::ofstream o(a.tokens_out);
        o << nlohmann::json{{"prompt", ids}, {"generated", out_ids}}.dump() << "\n";
    }
    std::cerr << "prompt " << ids.size() << " tokens, " << ids.size() / prefill << " tok/s; generated " << generated
              << " tokens, " << (generated ? 1e3 * decode / double(generated) : 0.0) << " ms/token\n";
    return 0;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<generate_args>();
    auto* sub = app.add_subcommand("generate", "Generate text with a Llama-family GGUF model (dense, factorised file, or factorised by a γ plan)");
    sub->add_option("model", a->model, "model: .gguf file, Hugging Face directory, or a factorised file from `lowrank decompose`")->required();
    sub->add_option("--source", a->source, "factorised MODEL: its source model (default: the path its manifest records)");
    sub->add_option("--prompt,-p", a->prompt, "prompt text")->required();
    sub->add_option("--max-tokens,-n", a->max_tokens, "tokens to generate");
    sub->add_option("--temperature,-t", a->temperature, "sampling temperature (0 = greedy)")->check(CLI::Range(0.0, 100.0));
    sub->add_option("--top-k", a->top_k, "sample among the k most likely tokens (0 = all)");
    sub->add_option("--seed", a->seed, "sampling seed");
    sub->add_option("--plan", a->plan, "γ JSON: factorise these layers in memory first");
    sub->add_option("--threads", a->threads, "BLAS threads")->check(CLI::PositiveNumber);
    sub->add_option("--weights", a->weights, cli::weights_help)
        ->check(CLI::IsMember(cli::weights_choices));
    sub->add_option("--score", a->score, "print log p(TEXT | prompt) instead of generating");
    sub->add_option("--logits-out", a->logits_out, "write the logits of prompt + generated tokens to this .npy");
    sub->add_option("--tokens-out", a->tokens_out, "write the prompt and generated token ids to this JSON file");
    sub->add_flag("--no-special", a->no_special, "do not parse special tokens (<|im_start|> ...) in the text");
    sub->callback([a, exit_code] { *exit_code = run(*a); });
}

const cli::registrar reg{"generate", install};

}  // namespace cmd_generate
