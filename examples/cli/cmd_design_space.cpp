// `lowrank design-space`: the decomposition design space of a model (lowrank/design).
//
//   lowrank design-space --arch llama2-7b [--tensors q,k,v,o,gate,up,down] [--json]
//   lowrank design-space --config path/to/config.json
//   lowrank design-space --model MODEL.gguf       (the architecture the file describes; cli/arch_option.hpp)
//
// Prints the per-tensor parameter table of one block, the model's parameter totals, and the
// exact sizes of the design spaces (Theorem 3.1 with R = the smallest rank among the chosen
// tensors, the exact uniform-rank space, per-role and per-tensor rank spaces) with exponents.
#include "cli/arch_option.hpp"
#include "cli/command.hpp"

#include "lowrank/decomp/parameters.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/configuration.hpp"
#include "lowrank/design/counting.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace cmd_design_space {

using namespace lowrank;
using namespace lowrank::design;



std::vector<std::size_t> parse_tensors(const architecture& a, const std::string& list, const char* cmd) {
    std::vector<std::size_t> out;
    if (list.empty()) return all_tensors(a);
    std::stringstream ss(list);
    std::string role;
    while (std::getline(ss, role, ',')) {
        try {
            const auto k = a.role_index(role);
            for (auto e : out)
                if (e == k) throw cli::usage_error(std::string(cmd) + ": --tensors: duplicate role '" + role + "'");
            out.push_back(k);
        } catch (const lowrank::error& e) {
            throw cli::usage_error(std::string(cmd) + ": --tensors: " + e.what());
        }
    }
    if (out.empty()) throw cli::usage_error(std::string(cmd) + ": --tensors: empty list");
    std::sort(out.begin(), out.end());
    return out;
}

std::string grouped(std::uint64_t v) {
    std::string s = std::to_string(v), out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

std::string short_count(const big_uint& n) {
    const std::string s = n.to_string();
    if (s.size() <= 40) return s;
    return s.substr(0, 6) + "... (" + std::to_string(s.size()) + " digits)";
}

std::string percent(double f) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f%%", 100 * f);
    return buf;
}

int run(const cli::arch_options& src, const std::string& tensors_arg, bool as_json) {
    const architecture a = cli::load_architecture(src, "design-space");
    const auto chosen = parse_tensors(a, tensors_arg, "design-space");
    const auto specs = a.tensors();
    const auto c = count_design_space(a, chosen);

    if (as_json) {
        nlohmann::json j;
        j["model"] = a.name;
        j["family"] = std::string(to_string(a.kind));
        j["layers"] = a.layers;
        j["tensors_per_layer"] = a.tensors_per_layer();
        j["parameters"] = {{"total", a.total_parameters()},
                           {"linear", a.linear_parameters()},
                           {"per_layer", a.parameters_per_layer()},
                           {"linear_per_layer", a.linear_parameters_per_layer()},
                           {"non_block", a.non_block_parameters()}};
        j["tensors"] = nlohmann::json::array();
        for (const auto& s : specs)
            j["tensors"].push_back({{"role", s.role_name()},
                                    {"shape", {s.rows, s.cols}},
                                    {"parameters", s.parameters()},
                                    {"bias", s.has_bias},
                                    {"rank", s.rank()},
                                    {"break_even_svd", break_even_rank(s.rows, s.cols, factor_form::svd)},
                                    {"break_even_tucker2", break_even_rank(s.rows, s.cols, factor_form::tucker2)}});
        nlohmann::json roles = nlohmann::json::array();
        for (auto k : chosen) roles.push_back(specs[k].role_name());
        j["design_space"] = {{"chosen_tensors", roles},
                             {"N_layers", c.layers},
                             {"N_tensors", c.tensors},
                             {"uniform_rank", c.uniform_rank},
                             {"study_exponent", c.study_exponent},
                             {"theorem_3_1", {{"count", c.theorem_3_1.to_string()}, {"log2", c.theorem_3_1_log2}}},
                             {"uniform_exact", {{"count", c.uniform_exact.to_string()}, {"log2", c.uniform_exact_log2}}},
                             {"per_role", {{"count", c.per_role.to_string()}, {"log2", c.per_role_log2}}},
                             {"per_tensor", {{"count", c.per_tensor.to_string()}, {"log2", c.per_tensor_log2}}}};
        std::cout << j.dump(2) << "\n";
        return 0;
    }

    std::cout << "model " << a.name << " (" << to_string(a.kind) << " family): " << a.layers << " layers, "
              << a.tensors_per_layer() << " decomposable tensors per layer, hidden " << a.hidden << ", intermediate "
              << a.intermediate << ", heads " << a.heads << "/" << a.kv_heads << " (q/kv), vocab " << a.vocab
              << (model::is_decoder(a.kind) ? (a.tied_embeddings ? ", tied lm_head" : ", untied lm_head") : "") << "\n\n";
    std::printf("%-13s %-13s %14s %6s %12s %16s\n", "tensor", "shape [out,in]", "params/layer", "rank", "break-even", "break-even");
    std::printf("%-13s %-13s %14s %6s %12s %16s\n", "", "", "", "", "svd", "tucker2");
    for (const auto& s : specs) {
        const std::string shape = std::to_string(s.rows) + "x" + std::to_string(s.cols);
        std::printf("%-13s %-13s %14s %6llu %12llu %16llu\n", (s.role_name() + (s.has_bias ? "+b" : "")).c_str(), shape.c_str(),
                    grouped(s.parameters()).c_str(), static_cast<unsigned long long>(s.rank()),
                    static_cast<unsigned long long>(break_even_rank(s.rows, s.cols, factor_form::svd)),
                    static_cast<unsigned long long>(break_even_rank(s.rows, s.cols, factor_form::tucker2)));
    }
    const double tot = static_cast<double>(a.total_parameters());
    std::printf("\n%-34s %16s\n", "parameters", "count");
    std::printf("%-34s %16s\n", "decomposable weights per layer", grouped(a.linear_parameters_per_layer()).c_str());
    std::printf("%-34s %16s\n", "all parameters per layer", grouped(a.parameters_per_layer()).c_str());
    std::printf("%-34s %16s  (%s of total)\n", "decomposable weights, all layers", grouped(a.linear_parameters()).c_str(),
                percent(a.linear_parameters() / tot).c_str());
    std::printf("%-34s %16s\n", "embeddings, head, final norm/pooler", grouped(a.non_block_parameters()).c_str());
    std::printf("%-34s %16s\n", "total", grouped(a.total_parameters()).c_str());

    std::string roles;
    for (auto k : chosen) roles += (roles.empty() ? "" : ",") + specs[k].role_name();
    std::cout << "\ndesign space over tensors {" << roles << "}: N_Layers = " << c.layers << ", N_Tensors = " << c.tensors
              << ", R = " << c.uniform_rank << " (smallest rank among them)\n";
    std::printf("%-40s %-44s %s\n", "space", "exact count", "floor(log2)");
    std::printf("%-40s %-44s %s\n", "study estimate (Table 3.1)", ("O(2^" + std::to_string(c.study_exponent) + ")").c_str(), "");
    std::printf("%-40s %-44s %llu\n", "Theorem 3.1: (2^T-1)(2^L-1)R+1", short_count(c.theorem_3_1).c_str(),
                static_cast<unsigned long long>(c.theorem_3_1_log2));
    std::printf("%-40s %-44s %llu\n", "uniform rank, capped per tensor set", short_count(c.uniform_exact).c_str(),
                static_cast<unsigned long long>(c.uniform_exact_log2));
    std::printf("%-40s %-44s %llu\n", "one rank per role", short_count(c.per_role).c_str(),
                static_cast<unsigned long long>(c.per_role_log2));
    std::printf("%-40s %-44s %llu\n", "one rank per (layer, tensor)", short_count(c.per_tensor).c_str(),
                static_cast<unsigned long long>(c.per_tensor_log2));
    return 0;
}

const lowrank::cli::registrar reg("design-space", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("design-space", "Exact size of a model's decomposition design space and its parameter table");
    auto src = std::make_shared<cli::arch_options>();
    auto tensors = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    src->add_to(sub);
    sub->add_option("--tensors", *tensors, "comma-separated roles to decompose (default: all), e.g. q,k,v,o,gate,up,down");
    sub->add_flag("--json", *as_json, "print JSON instead of tables");
    sub->callback([=] { *exit_code = run(*src, *tensors, *as_json); });
});

}  // namespace cmd_design_space
