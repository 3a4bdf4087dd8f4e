// `lowrank inspect MODEL [--json]`: what a weight file holds, as the architecture tables see it.
//
// MODEL is a .gguf file, a .safetensors file, a *.safetensors.index.json, or a Hugging Face
// model directory (config.json + model.safetensors or sharded model-*.safetensors). Prints the
// architecture, the number of layers and every tensor with its kind, role, layer, dtype, shape
// and parameter count, then totals (all parameters, decomposable ones, per kind). A factorised
// file written by `lowrank decompose` shows each factorised weight's form, rank, parameters
// before/after and error, and the savings.
#include "cli/command.hpp"

#include "lowrank/design/counting.hpp"
#include "lowrank/io/factorized.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using lowrank::model::model_source;
using lowrank::model::tensor_entry;

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(const lowrank::shape_t& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// A factorised file (lowrank decompose): per decomposed weight its form, rank, parameters
// before/after and recorded error; totals and savings.
int run_factorized(const std::string& path, bool as_json) {
    const lowrank::factorized_model f(path);
    const auto& man = f.manifest();
    const std::uint64_t before = f.parameters_before(), after = f.parameters_after();
    const double saved = before ? 1.0 - static_cast<double>(after) / static_cast<double>(before) : 0.0;
    if (as_json) {
        nlohmann::json j;
        j["path"] = path;
        j["format"] = "lowrank.factorized";
        for (const char* k : {"architecture", "method", "form", "gamma_id", "source"})
            if (man.contains(k)) j[k] = man[k];
        j["parameters_before"] = before;
        j["parameters_after"] = after;
        j["reduction"] = saved;
        auto& ts = j["tensors"] = nlohmann::json::array();
        for (const auto& t : f.tensors()) {
            nlohmann::json e{{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"factored", t.factored},
                             {"parameters_before", t.parameters_before()}, {"parameters_after", t.parameters_after()}};
            if (t.factored) {
                e["form"] = lowrank::to_string(t.form);
                e["rank"] = t.rank;
                if (t.info.contains("rel_error")) e["rel_error"] = t.info["rel_error"];
            }
            ts.push_back(e);
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "model:        " << path << " (lowrank factorised safetensors)\n";
    if (man.contains("architecture")) std::cout << "architecture: " << man["architecture"].get<std::string>() << "\n";
    if (man.contains("method")) std::cout << "method:       " << man["method"].get<std::string>() << "\n";
    if (man.contains("gamma_id")) std::cout << "gamma:        " << man["gamma_id"].get<std::string>() << "\n";
    if (man.contains("source") && man["source"].contains("path"))
        std::cout << "source:       " << man["source"]["path"].get<std::string>() << "\n";
    std::size_t w = 4, n_fact = 0;
    for (const auto& t : f.tensors()) w = std::max(w, t.name.size());
    char line[512];
    std::snprintf(line, sizeof line, "\n%-*s  %-8s %6s %-12s %12s %12s %10s\n", static_cast<int>(w), "name", "form", "rank",
                  "shape", "params", "factored", "rel_error");
    std::cout << line;
    for (const auto& t : f.tensors()) {
        if (!t.factored) continue;
        ++n_fact;
        const double e = t.info.contains("rel_error") && t.info["rel_error"].is_number() ? t.info["rel_error"].get<double>() : NAN;
        std::cout << t.name << std::string(w - t.name.size(), ' ');
        std::snprintf(line, sizeof line, "  %-8s %6zu %-12s %12llu %12llu %10.4g\n", lowrank::to_string(t.form), t.rank,
                      shape_str(t.shape).c_str(), static_cast<unsigned long long>(t.parameters_before()),
                      static_cast<unsigned long long>(t.parameters_after()), e);
        std::cout << line;
    }
    std::cout << "\ntensors: " << f.tensors().size() << " (" << n_fact << " factorised)\nparameters: " << before << " -> "
              << after << " (" << 100.0 * saved << "% saved)\n";
    return 0;
}

/// The design space of the file's own layers (lowrank/design/counting.hpp): the ranks are the
/// smaller dimension of each decomposable weight of the first layer.
lowrank::design::design_space_counts design_space_of(const model_source& m) {
    std::vector<std::uint64_t> ranks;
    if (!m.layout().weights.empty())
        for (const auto& [role, name] : m.layout().weights.front())
            if (const auto& t = m.tensor(name); t.shape.size() == 2) ranks.push_back(std::min(t.shape[0], t.shape[1]));
    return lowrank::design::count_design_space(m.layout().layers, ranks);
}

int run(const std::string& path, bool as_json) {
    if (!fs::exists(path)) throw lowrank::cli::usage_error("inspect: " + path + ": no such file or directory");
    if (!fs::is_directory(path) && ends_with(path, ".safetensors") && lowrank::factorized_model::is_factorized(path))
        return run_factorized(path, as_json);
    const model_source m = model_source::open(path);
    const bool gguf = m.format() == lowrank::model::source_format::gguf;
    // Listed as before the model layer: GGUF in file order, safetensors sorted by name.
    std::vector<tensor_entry> tensors = m.tensors();
    std::vector<std::string> unknown = m.layout().unknown;
    if (!gguf) {
        std::sort(tensors.begin(), tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
        std::sort(unknown.begin(), unknown.end());
    }
    std::uint64_t total = 0, decomposable = 0;
    std::map<std::string, std::uint64_t> by_kind;
    for (const auto& t : tensors) {
        total += lowrank::numel(t.shape);
        if (t.cls.decomposable()) decomposable += lowrank::numel(t.shape);
        by_kind[std::string(lowrank::model::to_string(t.cls.kind))] += lowrank::numel(t.shape);
    }
    if (as_json) {
        nlohmann::json j;
        j["path"] = m.path();
        j["format"] = gguf ? "gguf" : "safetensors";
        j["architecture"] = std::string(lowrank::model::to_string(m.family()));
        j["architecture_source"] = m.family_source();
        j["layers"] = m.layout().layers;
        j["tied_embeddings"] = m.layout().tied_embeddings;
        j["parameters"] = total;
        j["decomposable_parameters"] = decomposable;
        j["parameters_by_kind"] = by_kind;
        j["unknown_tensors"] = unknown;
        j["missing_weights"] = m.layout().missing;
        const auto ds = design_space_of(m);
        j["design_space"] = {{"layers", ds.layers},
                             {"tensors_per_layer", ds.tensors},
                             {"uniform_rank", ds.uniform_rank},
                             {"theorem_3_1", ds.theorem_3_1.to_string()},
                             {"theorem_3_1_log2", ds.theorem_3_1_log2},
                             {"study_exponent", ds.study_exponent},
                             {"per_tensor_rank", ds.per_tensor.to_string()},
                             {"per_tensor_rank_log2", ds.per_tensor_log2}};
        auto& ts = j["tensors"] = nlohmann::json::array();
        for (const auto& t : tensors)
            ts.push_back({{"name", t.name},
                          {"kind", std::string(lowrank::model::to_string(t.cls.kind))},
                          {"role", t.cls.role == lowrank::model::role::none
                                       ? nlohmann::json(nullptr)
                                       : nlohmann::json(std::string(lowrank::model::to_string(t.cls.role)))},
                          {"layer", t.cls.layer < 0 ? nlohmann::json(nullptr) : nlohmann::json(t.cls.layer)},
                          {"dtype", t.dtype},
                          {"shape", t.shape},
                          {"parameters", lowrank::numel(t.shape)}});
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "model:        " << m.path() << " (" << (gguf ? "gguf" : "safetensors") << ")\n"
              << "architecture: " << lowrank::model::to_string(m.family()) << " (from " << m.family_source() << ")\n"
              << "layers:       " << m.layout().layers << (m.layout().tied_embeddings ? ", tied embeddings" : "") << "\n\n";
    std::size_t w = 4;
    for (const auto& t : tensors) w = std::max(w, t.name.size());
    char line[512];
    std::snprintf(line, sizeof line, "%-*s  %-9s %-12s %5s  %-6s %-16s %12s\n", static_cast<int>(w), "name", "kind", "role",
                  "layer", "dtype", "shape", "params");
    std::cout << line;
    for (const auto& t : tensors) {
        std::cout << t.name << std::string(w - t.name.size(), ' ');
        std::snprintf(line, sizeof line, "  %-9s %-12s %5s  %-6s %-16s %12llu\n",
                      std::string(lowrank::model::to_string(t.cls.kind)).c_str(),
                      std::string(lowrank::model::to_string(t.cls.role)).c_str(),
                      t.cls.layer < 0 ? "-" : std::to_string(t.cls.layer).c_str(), t.dtype.c_str(), shape_str(t.shape).c_str(),
                      static_cast<unsigned long long>(lowrank::numel(t.shape)));
        std::cout << line;
    }
    std::cout << "\ntensors: " << tensors.size() << "\nparameters: " << total << "\ndecomposable parameters: " << decomposable
              << " (" << (total ? 100.0 * static_cast<double>(decomposable) / static_cast<double>(total) : 0.0) << "%)\n";
    for (const auto& [k, v] : by_kind) std::cout << "  " << k << ": " << v << "\n";
    if (!unknown.empty()) std::cout << "unknown tensors: " << unknown.size() << "\n";
    if (!m.layout().missing.empty()) std::cout << "missing decomposable weights: " << m.layout().missing.size() << "\n";
    const auto ds = design_space_of(m);
    std::cout << "design space (docs/design-space.md): " << ds.layers << " layers x " << ds.tensors
              << " tensors, uniform rank " << ds.uniform_rank << "\n"
              << "  Theorem 3.1 |S_LR| = " << ds.theorem_3_1.to_string() << " (~2^" << ds.theorem_3_1_log2
              << "; study's O(2^" << ds.study_exponent << "))\n"
              << "  per-(layer, tensor) ranks: ~2^" << ds.per_tensor_log2 << " configurations\n";
    return 0;
}

const lowrank::cli::registrar reg{"inspect", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("inspect", "Show a model file's architecture, tensors, roles and parameter counts");
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    sub->add_option("MODEL", *path, ".gguf, .safetensors, index .json, or a Hugging Face model directory")->required();
    sub->add_flag("--json", *json, "machine-readable output");
    sub->callback([path, json, exit_code] { *exit_code = run(*path, *json); });
}};

}  // namespace
