// `lowrank plan`: the configuration γ the study's rules choose for a parameter-reduction target,
// or the accounting of a given γ.
//
//   lowrank plan --arch llama2-7b --target-reduction 0.09 [--rank 1] [--skip-first 2]
//                [--skip-last 0] [--method tucker2|svd] [--tensors q,k,...] [--indexing 1]
//                [--out gamma.json] [--json]
//   lowrank plan --arch NAME | --config FILE | --model MODEL --gamma gamma.json --json
//
// Whole layers, one rank for all chosen tensors, the first/last layers skipped, the fewest
// layers that reach the target spread evenly over the rest (lowrank/design/planner.hpp). The
// reduction is a fraction of the model's total parameters. Ranks at which factorising saves
// nothing (past break-even) are refused. γ is written atomically (temp file + rename).
//
// --json prints, instead of the summary, one document (format "lowrank.plan") with γ (with the
// library's stable id, "g-…"), its parameter accounting and every weight it touches:
//   {"format": "lowrank.plan", "version": 1, "model", "method", "id", "gamma": {...},
//    "parameters": {"before", "after", "after_all_factorised", "reduction", "linear_before",
//                   "reduction_of_linear"},
//    "weights": [{"layer" (0-based), "role", "rank", "shape": [out, in], "parameters_before",
//                 "parameters_after", "kept_dense"}],
//    "planner": {...}   (target mode only: target, rank, skip_first, skip_last, layers_needed)}
// "after" counts a weight whose factorisation would not save parameters as dense ("kept_dense":
// the runtime keeps it dense; decompose refuses it without --allow-no-savings);
// "after_all_factorised" counts every weight factorised. With --gamma, γ is read and validated
// against the architecture instead of planned; --out is then not needed.
#include "cli/arch_option.hpp"
#include "cli/command.hpp"

#include "lowrank/design/architecture.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "lowrank/design/planner.hpp"
#include "lowrank/io/atomic_file.hpp"
#include "lowrank/model/plan.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace cmd_plan {

using namespace lowrank;
using namespace lowrank::design;

struct plan_args {
    cli::arch_options src;
    std::string tensors, method = "tucker2", out, gamma;
    bool json = false;
    double target = -1;
    std::uint64_t rank = 1, skip_first = 2, skip_last = 0;
    int indexing = 1;
};

/// The "lowrank.plan" document for γ (see the header comment).
nlohmann::json plan_document(const architecture& a, const configuration& g, int indexing) {
    const parameter_reduction r = reduction(a, g);
    nlohmann::json j;
    j["format"] = "lowrank.plan";
    j["version"] = 1;
    j["model"] = a.name;
    j["method"] = to_string(g.method);
    j["gamma"] = to_json(a, g, indexing);
    j["id"] = j["gamma"]["id"];
    std::uint64_t after = r.total_before;
    auto& ws = j["weights"] = nlohmann::json::array();
    for (const auto& w : model::weights_of(a, g)) {
        const bool kept = !w.saves();
        if (!kept) after -= w.parameters_before() - w.parameters_after();
        ws.push_back({{"layer", w.layer},
                      {"role", std::string(model::to_string(w.role))},
                      {"rank", w.rank},
                      {"shape", {w.rows, w.cols}},
                      {"parameters_before", w.parameters_before()},
                      {"parameters_after", kept ? w.parameters_before() : w.parameters_after()},
                      {"kept_dense", kept}});
    }
    j["parameters"] = {{"before", r.total_before},
                       {"after", after},
                       {"after_all_factorised", r.total_after()},
                       {"reduction", 1.0 - static_cast<double>(after) / static_cast<double>(r.total_before)},
                       {"linear_before", r.linear_before},
                       {"reduction_of_linear", static_cast<double>(r.total_before - after) / static_cast<double>(r.linear_before)}};
    return j;
}

/// --gamma FILE --json: the document for an existing γ.
int run_gamma(const plan_args& p, const architecture& a) {
    std::ifstream in(p.gamma);
    if (!in) throw cli::usage_error("plan: --gamma: cannot open '" + p.gamma + "'");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw cli::usage_error("plan: --gamma '" + p.gamma + "': not valid JSON: " + e.what());
    }
    configuration g;
    try {
        g = from_json(a, j);
    } catch (const lowrank::error& e) {
        throw cli::usage_error("plan: --gamma '" + p.gamma + "': " + e.what());
    }
    const int indexing = j.value("indexing", p.indexing);
    std::cout << plan_document(a, g, indexing).dump(2) << "\n";
    return 0;
}

int run(const plan_args& p) {
    const architecture a = cli::load_architecture(p.src, "plan");
    if (!p.gamma.empty()) {
        if (p.target >= 0) throw cli::usage_error("plan: give --gamma FILE or --target-reduction, not both");
        if (!p.json) throw cli::usage_error("plan: --gamma FILE needs --json");
        return run_gamma(p, a);
    }
    if (p.target < 0) throw cli::usage_error("plan: --target-reduction is required (or --gamma FILE --json)");
    if (!(p.target > 0 && p.target < 1))
        throw cli::usage_error("plan: --target-reduction must be a fraction in (0, 1), e.g. 0.09 for 9%");
    if (p.out.empty() && !p.json) throw cli::usage_error("plan: --out FILE is required");
    pruning_options o;
    o.rank = p.rank;
    o.skip_first = p.skip_first;
    o.skip_last = p.skip_last;
    o.method = p.method == "svd" ? factor_form::svd : factor_form::tucker2;
    if (!p.tensors.empty()) {
        std::stringstream ss(p.tensors);
        std::string role;
        while (std::getline(ss, role, ',')) {
            try {
                o.tensors.push_back(a.role_index(role));
            } catch (const lowrank::error& e) {
                throw cli::usage_error(std::string("plan: --tensors: ") + e.what());
            }
        }
        std::sort(o.tensors.begin(), o.tensors.end());
        if (std::adjacent_find(o.tensors.begin(), o.tensors.end()) != o.tensors.end())
            throw cli::usage_error("plan: --tensors: a role is listed twice");
    }
    plan_result r;
    try {
        r = plan(a, p.target, o);
    } catch (const rank_error& e) {
        throw cli::usage_error(std::string("plan: --rank: ") + e.what());
    } catch (const lowrank::error& e) {
        const std::string what = e.what();
        const char* arg = what.find("skip") != std::string::npos ? "--skip-first/--skip-last" : "--target-reduction";
        throw cli::usage_error(std::string("plan: ") + arg + ": " + what);
    }
    const auto j = to_json(a, r.gamma, p.indexing);
    if (!p.out.empty()) {
        try {
            write_file_atomically(p.out, j.dump(2) + "\n");
        } catch (const io_error& e) {
            throw cli::usage_error(std::string("plan: --out: ") + e.what());
        }
    }
    if (p.json) {
        auto doc = plan_document(a, r.gamma, p.indexing);
        doc["planner"] = {{"target_reduction", p.target}, {"rank", p.rank},          {"skip_first", p.skip_first},
                          {"skip_last", p.skip_last},     {"layers_needed", r.layers_needed},
                          {"saved_per_layer", r.saved_per_layer}};
        std::cout << doc.dump(2) << "\n";
        return 0;
    }

    std::string layers;
    for (auto l : r.gamma.layers) layers += (layers.empty() ? "" : ", ") + std::to_string(l + p.indexing);
    std::printf("model %s, %s form, rank %llu, %zu tensors per layer\n", a.name.c_str(), to_string(o.method),
                static_cast<unsigned long long>(o.rank), r.gamma.tensors.size());
    std::printf("layers (%s-based, %llu of %llu): %s\n", p.indexing ? "1" : "0",
                static_cast<unsigned long long>(r.layers_needed), static_cast<unsigned long long>(a.layers), layers.c_str());
    std::printf("saved per layer: %llu parameters\n", static_cast<unsigned long long>(r.saved_per_layer));
    std::printf("parameters: %llu -> %llu\n", static_cast<unsigned long long>(r.reduction.total_before),
                static_cast<unsigned long long>(r.reduction.total_after()));
    std::printf("reduction: %.2f%% of total parameters (target %.2f%%), %.2f%% of decomposable weights\n",
                100 * r.reduction.of_total(), 100 * p.target, 100 * r.reduction.of_linear());
    std::printf("gamma %s written to %s\n", j.at("id").get<std::string>().c_str(), p.out.c_str());
    return 0;
}

const lowrank::cli::registrar reg("plan", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("plan", "Plan a decomposition configuration (gamma) for a parameter-reduction target");
    auto p = std::make_shared<plan_args>();
    p->src.add_to(sub);
    sub->add_option("--target-reduction", p->target, "fraction of total parameters to remove, in (0, 1)");
    sub->add_option("--rank", p->rank, "pruned rank of every decomposed tensor (default 1)");
    sub->add_option("--skip-first", p->skip_first, "never decompose the first N layers (default 2, as in the study)");
    sub->add_option("--skip-last", p->skip_last, "never decompose the last N layers (default 0)");
    sub->add_option("--method", p->method, "tucker2 (default) or svd")->check(CLI::IsMember({"tucker2", "svd"}));
    sub->add_option("--tensors", p->tensors, "comma-separated roles to decompose (default: all)");
    sub->add_option("--indexing", p->indexing, "layer numbering in the output and printout: 1 (default) or 0")
        ->check(CLI::IsMember({0, 1}));
    sub->add_option("--out", p->out, "where to write gamma JSON (required unless --json)");
    sub->add_option("--gamma", p->gamma, "account for this gamma instead of planning one (with --json)");
    sub->add_flag("--json", p->json, "print gamma, its id, parameter accounting and weights as JSON");
    sub->callback([=] { *exit_code = run(*p); });
});

}  // namespace cmd_plan
