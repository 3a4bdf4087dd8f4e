// `lowrank export-hf FACTORISED --out DIR`: a factorised file written by `lowrank decompose`
// as a Hugging Face directory that transformers loads with trust_remote_code — the factorised
// layers stay two thin linears (runtime/hf_export.hpp; format and checks in docs/interop.md).
//
//   lowrank export-hf smol.safetensors --out smol-hf [--overwrite] [--shard-size 2GB] [--keep-core]
//       then: AutoModelForCausalLM.from_pretrained("smol-hf", trust_remote_code=True)
//
// Exit status: 0 written; 2 bad arguments or inputs (nothing written); 1 other failures.
#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/interrupt.hpp"
#include "hf/modeling_lowrank_py.hpp"
#include "runtime/hf_export.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace lowrank::cli {
namespace cmd_export_hf {

struct export_args {
    std::string model, out, source, shard_size = "5GB";
    bool overwrite = false, keep_core = false, json = false, quiet = false;
    int threads = 1;
};

int run_export(const export_args& a) {
    runtime::hf_export_options opt;
    opt.out = a.out;
    opt.overwrite = a.overwrite;
    opt.keep_core = a.keep_core;
    opt.source_override = a.source;
    opt.threads = a.threads;
    opt.modeling_py = modeling_lowrank_py;
    try {
        opt.shard_bytes = cli::parse_byte_size(a.shard_size);
    } catch (const lowrank::invalid_argument& e) {
        throw usage_error(std::string("export-hf: --shard-size ") + e.what());
    }
    if (!std::filesystem::exists(a.model)) throw usage_error("export-hf: " + a.model + ": no such file");
    if (model::detect_file_kind(a.model) != model::file_kind::factorized)
        throw usage_error("export-hf: " + a.model + " is not a lowrank factorised file (write one with `lowrank decompose`)");

    const auto t0 = std::chrono::steady_clock::now();
    int last = -1;
    opt.progress = [&](std::size_t done, std::size_t total) {
        if (interrupt_scope::requested()) throw std::runtime_error("interrupted (nothing written)");
        if (a.quiet || total == 0) return;
        const int pct = static_cast<int>(100 * done / total);
        if (pct / 10 == last / 10 && done != total) return;
        last = pct;
        std::fprintf(stderr, "export-hf: %zu/%zu tensors %5.1fs\n", done, total, seconds_since(t0));
    };
    const interrupt_scope interrupts;  // SIGINT/SIGTERM: stop, write nothing

    runtime::hf_export_result r;
    try {
        r = runtime::export_hf(a.model, opt);
    } catch (const io_error& e) {
        throw usage_error(std::string("export-hf: ") + e.what());
    }
    const double secs = seconds_since(t0);
    nlohmann::json j = {{"out", std::filesystem::absolute(a.out).string()},
                        {"family", r.family},
                        {"class", r.model_class},
                        {"tensors", r.tensors},
                        {"factorised_linears", r.factorised},
                        {"shards", r.shards},
                        {"bytes", r.bytes},
                        {"parameters", r.lowrank["parameters"]},
                        {"dropped", r.dropped},
                        {"tokenizer", r.tokenizer},
                        {"seconds", secs}};
    if (a.json) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("wrote %s (%s, %s)\n", j["out"].get<std::string>().c_str(), r.family.c_str(), r.model_class.c_str());
    std::printf("tensors: %zu in %zu shard(s), %.1f MB; factorised linears: %zu%s\n", r.tensors, r.shards, r.bytes / 1e6,
                r.factorised, r.folded_core_parameters ? " (tucker2 cores folded into u)" : a.keep_core ? " (tucker2 cores kept)" : "");
    std::printf("parameters: %llu (factorised file %llu", static_cast<unsigned long long>(r.parameters),
                static_cast<unsigned long long>(r.file_parameters));
    if (r.folded_core_parameters) std::printf(" - %llu folded core", static_cast<unsigned long long>(r.folded_core_parameters));
    if (r.dropped_buffer_elements)
        std::printf(" - %llu buffer elements not written", static_cast<unsigned long long>(r.dropped_buffer_elements));
    std::printf(")\ntokenizer: %s\nseconds: %.2f\n", r.tokenizer.c_str(), secs);
    return 0;
}

void install(CLI::App& app, int* exit_code) {
    auto a = std::make_shared<export_args>();
    auto* sub = app.add_subcommand("export-hf", "write a factorised file as a Hugging Face directory (transformers, lm-eval)");
    sub->add_option("FACTORISED", a->model, "factorised file written by `lowrank decompose`")->required();
    sub->add_option("--out", a->out, "the directory to create")->required();
    sub->add_flag("--overwrite", a->overwrite, "replace --out if it exists (swapped in only once complete)");
    sub->add_option("--shard-size", a->shard_size, "most tensor bytes per safetensors shard: bytes or 500MB, 5GB, 2GiB ...");
    sub->add_flag("--keep-core", a->keep_core, "tucker2: keep the r×r core as a third factor (default: fold it into u)");
    sub->add_option("--source", a->source, "the factorised file's source model (default: the path its manifest records)");
    sub->add_option("--threads", a->threads, "BLAS threads (folding cores)")->check(CLI::PositiveNumber);
    sub->add_flag("--json", a->json, "print the summary as JSON");
    sub->add_flag("--quiet", a->quiet, "no progress on stderr");
    sub->callback([a, exit_code] { *exit_code = run_export(*a); });
}

const registrar reg{"export-hf", install};

}  // namespace cmd_export_hf
}  // namespace lowrank::cli
