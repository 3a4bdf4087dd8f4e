// lowrank bench-model MODEL [--plan gamma.json] [--source SRC] [--prompt-tokens P] [--decode-tokens D]
//                     [--batch 1,4,16] [--warmup W] [--repeats R] [--threads N]
//                     [--weights f32|bf16]
// Prefill throughput (tokens/s) and decode latency (ms per step, B tokens per step) of a
// Llama-family model (GGUF file, Hugging Face directory, or factorised file from `lowrank
// decompose`), dense, factorised, or factorised in memory by a γ plan, at each batch size; with warm-up,
// repeats, median and spread, peak RSS, model bytes, RAPL energy when readable, and the
// machine. Prints one JSON document.
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "runtime/factorized_loader.hpp"
#include "runtime/measure.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>

namespace cmd_bench_model {

using namespace lowrank;
using namespace lowrank::runtime;

struct bench_args {
    std::string model, plan, source;
    std::size_t prompt_tokens = 128, decode_tokens = 16;
    std::vector<std::size_t> batches{1, 4, 16};
    int warmup = 1, repeats = 5, threads = 2;
    std::string weights = "f32";
};

int run(const bench_args& a) {
    if (!std::filesystem::exists(a.model)) throw cli::usage_error(a.model + ": no such file");
    // bf16 without a plan: each tensor rounded as it is read (no float32 copy of the whole model)
    const load_options lo{a.weights == "bf16" && a.plan.empty()};
    opened_llama o = open_llama(a.model, a.source, a.prompt_tokens + a.decode_tokens + 8, lo);
    if (o.source && !a.plan.empty())
        throw cli::usage_error("--plan: " + a.model + " is already a factorised file; give --plan with the dense model");
    llama_model model(std::move(o.weights), a.threads);
    std::uintmax_t bytes = 0;
    if (std::filesystem::is_directory(a.model)) {
        for (const auto& e : std::filesystem::directory_iterator(a.model))
            if (e.is_regular_file()) bytes += e.file_size();
    } else {
        bytes = std::filesystem::file_size(a.model);
    }
    nlohmann::json out{{"model", a.model}, {"file_bytes", bytes},
                       {"threads", a.threads}, {"machine", measure::machine()},
                       {"prompt_tokens", a.prompt_tokens}, {"decode_tokens", a.decode_tokens}};
    if (o.source) {
        out["factorized"] = {{"source", o.source->path}, {"source_verified", o.source->verified},
                             {"factorised_layers", o.factorised_layers},
                             {"gamma_id", o.manifest.value("gamma_id", std::string{})},
                             {"form", o.manifest.value("form", std::string{})}};
    }
    if (!a.plan.empty()) {
        std::ifstream in(a.plan);
        if (!in) throw cli::usage_error(a.plan + ": cannot open");
        const auto gamma = nlohmann::json::parse(in);
        const auto steps = apply_plan(model.exec(), model.weights(), gamma);
        nlohmann::json kept = nlohmann::json::array();
        for (const auto& s : steps)
            if (s.kept_dense) kept.push_back({{"layer", s.layer}, {"tensor", std::string(model::to_string(s.role))}, {"rank", s.rank}});
        out["plan"] = a.plan;
        out["kept_dense"] = kept;  // factorising these would not have saved parameters or FLOPs
    }
    model.weights().store_as(a.weights);
    out["weights"] = a.weights;
    out["parameters"] = model.weights().parameters();
    out["model_bytes_f32"] = model.weights().parameters() * sizeof(float);
    out["model_bytes"] = model.weights().bytes();  // as stored: float32, bf16 or q8 matrices
    std::mt19937 rng(0);
    std::uniform_int_distribution<int> tok(0, static_cast<int>(model.config().vocab) - 1);
    out["results"] = nlohmann::json::array();
    for (std::size_t B : a.batches) {
        std::vector<int> prompt(B * a.prompt_tokens);
        for (auto& t : prompt) t = tok(rng);
        std::vector<int> step(B, 1);
        kv_cache cache = model.make_cache(B, a.prompt_tokens + a.decode_tokens);
        auto prefill = measure::repeat([&] {
            cache.length = 0;
            model.forward(prompt.data(), a.prompt_tokens, cache);
        }, a.warmup, a.repeats);
        // Decode: D single-token steps after a P-token prefill; one sample = mean step time.
        auto decode = measure::repeat([&] {
            cache.length = a.prompt_tokens;
            for (std::size_t i = 0; i < a.decode_tokens; ++i) model.forward(step.data(), 1, cache);
        }, a.warmup, a.repeats);
        const double n_prefill = double(B * a.prompt_tokens), n_steps = double(a.decode_tokens);
        nlohmann::json r{{"batch", B},
                         {"prefill_seconds", prefill.time.to_json()},
                         {"prefill_tokens_per_s", n_prefill / prefill.time.median},
                         {"prefill_tokens_per_s_spread", {n_prefill / prefill.time.max, n_prefill / prefill.time.min}},
                         {"decode_ms_per_step", decode.time.to_json(1e3 / n_steps)},
                         {"decode_tokens_per_s", double(B) * n_steps / decode.time.median},
                         {"prefill_energy_joules", prefill.energy_joules},
                         {"decode_energy_joules", decode.energy_joules}};
        out["results"].push_back(r);
        std::cerr << "batch " << B << ": prefill " << n_prefill / prefill.time.median << " tok/s, decode "
                  << 1e3 * decode.time.median / n_steps << " ms/step\n";
    }
    out["peak_rss_bytes"] = measure::peak_rss_bytes();
    std::cout << out.dump(2) << "\n";
    return 0;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<bench_args>();
    auto* sub = app.add_subcommand("bench-model", "Prefill/decode throughput, memory and energy of a Llama-family model");
    sub->add_option("model", a->model, ".gguf file, Hugging Face directory, or factorised file from `lowrank decompose`")->required();
    sub->add_option("--source", a->source, "factorised MODEL: its source model (default: the path its manifest records)");
    sub->add_option("--plan", a->plan, "γ JSON: factorise these layers in memory first");
    sub->add_option("--prompt-tokens", a->prompt_tokens, "prefill length")->check(CLI::PositiveNumber);
    sub->add_option("--decode-tokens", a->decode_tokens, "decode steps per sample")->check(CLI::PositiveNumber);
    sub->add_option("--batch", a->batches, "batch sizes")->delimiter(',');
    sub->add_option("--warmup", a->warmup, "untimed runs first");
    sub->add_option("--repeats", a->repeats, "timed runs")->check(CLI::PositiveNumber);
    sub->add_option("--threads", a->threads, "BLAS threads")->check(CLI::PositiveNumber);
    sub->add_option("--weights", a->weights, cli::weights_help)
        ->check(CLI::IsMember(cli::weights_choices));
    sub->callback([a, exit_code] { *exit_code = run(*a); });
}

const cli::registrar reg{"bench-model", install};

}  // namespace cmd_bench_model
