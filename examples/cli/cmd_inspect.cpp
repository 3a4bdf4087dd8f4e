// `lowrank inspect MODEL [--json]`: what a weight file holds, as the architecture tables see it.
//
// MODEL is a .gguf file, a .safetensors file, a *.safetensors.index.json, a Hugging Face model
// directory (config.json + model.safetensors or sharded model-*.safetensors), or a lowrank
// factorised file (recognised by content, whatever its name). Prints the architecture, the number
// of layers and every tensor with its kind, role, layer, dtype, shape and parameter count, then
// totals (all parameters, decomposable ones, per kind); for a factorised file each factorised
// weight's form, rank, parameters before/after and error, and the savings. The summary is the
// model layer's (include/lowrank/model/summary.hpp): --json prints it as is, the text output
// renders it.
#include "cli/command.hpp"

#include "lowrank/model/summary.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

namespace cmd_inspect {

using nlohmann::json;

std::string shape_str(const json& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i].get<std::uint64_t>());
    return out + "]";
}

// printf-style formatting onto std::cout (one stream for every line).
template <class... A>
void out(const char* fmt, A... a) {
    std::string buf(static_cast<std::size_t>(std::snprintf(nullptr, 0, fmt, a...)) + 1, '\0');
    std::snprintf(buf.data(), buf.size(), fmt, a...);
    buf.pop_back();
    std::cout << buf;
}

std::size_t name_width(const json& tensors) {
    std::size_t w = 4;
    for (const auto& t : tensors) w = std::max(w, t["name"].get<std::string>().size());
    return w;
}

void print_factorized(const json& j) {
    std::cout << "model:        " << j["path"].get<std::string>() << " (lowrank factorised safetensors)\n";
    for (const auto& [key, label] : {std::pair{"architecture", "architecture: "}, {"method", "method:       "},
                                     {"gamma_id", "gamma:        "}})
        if (j.contains(key)) std::cout << label << j[key].get<std::string>() << "\n";
    if (j.contains("source") && j["source"].contains("path"))
        std::cout << "source:       " << j["source"]["path"].get<std::string>() << "\n";
    const int w = static_cast<int>(name_width(j["tensors"]));
    std::size_t n_fact = 0;
    out("\n%-*s  %-8s %6s %-12s %12s %12s %10s\n", w, "name", "form", "rank", "shape", "params", "factored",
                "rel_error");
    for (const auto& t : j["tensors"]) {
        if (!t["factored"].get<bool>()) continue;
        ++n_fact;
        const double e = t.contains("rel_error") && t["rel_error"].is_number() ? t["rel_error"].get<double>() : NAN;
        out("%-*s  %-8s %6zu %-12s %12llu %12llu %10.4g\n", w, t["name"].get<std::string>().c_str(),
                    t["form"].get<std::string>().c_str(), t["rank"].get<std::size_t>(), shape_str(t["shape"]).c_str(),
                    t["parameters_before"].get<unsigned long long>(), t["parameters_after"].get<unsigned long long>(), e);
    }
    std::cout << "\ntensors: " << j["tensors"].size() << " (" << n_fact << " factorised)\nparameters: "
              << j["parameters_before"].get<std::uint64_t>() << " -> " << j["parameters_after"].get<std::uint64_t>() << " ("
              << 100.0 * j["reduction"].get<double>() << "% saved)\n";
}

void print_model(const json& j) {
    std::cout << "model:        " << j["path"].get<std::string>() << " (" << j["format"].get<std::string>() << ")\n"
              << "architecture: " << j["architecture"].get<std::string>() << " (from "
              << j["architecture_source"].get<std::string>() << ")\n"
              << "layers:       " << j["layers"].get<std::size_t>()
              << (j["tied_embeddings"].get<bool>() ? ", tied embeddings" : "") << "\n\n";
    const int w = static_cast<int>(name_width(j["tensors"]));
    out("%-*s  %-9s %-12s %5s  %-6s %-16s %12s\n", w, "name", "kind", "role", "layer", "dtype", "shape", "params");
    for (const auto& t : j["tensors"])
        out("%-*s  %-9s %-12s %5s  %-6s %-16s %12llu\n", w, t["name"].get<std::string>().c_str(),
                    t["kind"].get<std::string>().c_str(), t["role"].is_null() ? "-" : t["role"].get<std::string>().c_str(),
                    t["layer"].is_null() ? "-" : std::to_string(t["layer"].get<int>()).c_str(),
                    t["dtype"].get<std::string>().c_str(), shape_str(t["shape"]).c_str(),
                    t["parameters"].get<unsigned long long>());
    const auto total = j["parameters"].get<std::uint64_t>(), decomposable = j["decomposable_parameters"].get<std::uint64_t>();
    std::cout << "\ntensors: " << j["tensors"].size() << "\nparameters: " << total << "\ndecomposable parameters: "
              << decomposable << " (" << (total ? 100.0 * static_cast<double>(decomposable) / static_cast<double>(total) : 0.0)
              << "%)\n";
    for (const auto& [k, v] : j["parameters_by_kind"].items()) std::cout << "  " << k << ": " << v.get<std::uint64_t>() << "\n";
    if (!j["unknown_tensors"].empty()) std::cout << "unknown tensors: " << j["unknown_tensors"].size() << "\n";
    if (!j["missing_weights"].empty()) std::cout << "missing decomposable weights: " << j["missing_weights"].size() << "\n";
    const json& ds = j["design_space"];
    std::cout << "design space (docs/design-space.md): " << ds["layers"].get<std::uint64_t>() << " layers x "
              << ds["tensors_per_layer"].get<std::uint64_t>() << " tensors, uniform rank "
              << ds["uniform_rank"].get<std::uint64_t>() << "\n"
              << "  Theorem 3.1 |S_LR| = " << ds["theorem_3_1"].get<std::string>() << " (~2^"
              << ds["theorem_3_1_log2"].get<std::uint64_t>() << "; study's O(2^" << ds["study_exponent"].get<std::uint64_t>() << "))\n"
              << "  per-(layer, tensor) ranks: ~2^" << ds["per_tensor_rank_log2"].get<std::uint64_t>() << " configurations\n";
}

int run(const std::string& path, bool as_json) {
    if (!std::filesystem::exists(path)) throw lowrank::cli::usage_error("inspect: " + path + ": no such file or directory");
    const json j = lowrank::model::summarize(path);
    if (as_json) std::cout << j.dump(2) << "\n";
    else if (j["format"] == "lowrank.factorized") print_factorized(j);
    else print_model(j);
    return 0;
}

const lowrank::cli::registrar reg{"inspect", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("inspect", "Show a model file's architecture, tensors, roles and parameter counts");
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    sub->add_option("MODEL", *path, ".gguf, .safetensors, index .json, a Hugging Face model directory, or a factorised file")
        ->required();
    sub->add_flag("--json", *json, "machine-readable output");
    sub->callback([path, json, exit_code] { *exit_code = run(*path, *json); });
}};

}  // namespace cmd_inspect
