// Recipes (lowrank/design/recipe.hpp) in `lowrank decompose`: `--recipe R` becomes the γ it
// selects on the given model, and every output gets the recipe that reproduces it beside it.
//
// A model's decomposable weights are described as `recipe_module`s (tensor name, Hugging Face
// module name — lowrank/model/hf_names.hpp —, 0-based layer, γ role, shape). gamma_from_recipe picks
// the modules the recipe selects, with their ranks, as a γ document ("pruned_ranks", indexing 0);
// γ is layers × tensors, so a selection that is not such a product (e.g. q ignored in one layer
// only) is refused with a message saying which pair is missing. recipe_of_output goes the other
// way: the decomposed modules and their ranks as a recipe of literal module names.
#pragma once

#include "cli/command.hpp"
#include "lowrank/design/recipe.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace lowrank::cli {

struct recipe_module {
    std::string tensor, module, role;
    std::size_t layer = 0;
    std::uint64_t rows = 0, cols = 0;
};

/// Reads and validates a recipe file; usage_error naming the file otherwise.
inline design::recipe read_recipe(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw usage_error("--recipe: cannot open '" + path + "'");
    try {
        return design::recipe_from_json(nlohmann::json::parse(in));
    } catch (const std::exception& e) {
        throw usage_error("--recipe '" + path + "': " + e.what());
    }
}

/// The γ document (model name `model`) of the modules recipe `r` selects.
inline nlohmann::json gamma_from_recipe(const design::recipe& r, const std::vector<recipe_module>& mods,
                                        const std::string& model, const std::string& where) {
    const factor_form form = r.method == "svd" ? factor_form::svd : factor_form::tucker2;
    nlohmann::json pruned = nlohmann::json::array();
    std::set<std::size_t> layers;
    std::set<std::string> roles;
    std::set<std::pair<std::size_t, std::string>> pairs;
    for (const auto& m : mods) {
        const design::recipe_rule* rule = design::recipe_rule_for(r, m.module);
        if (!rule) continue;
        const std::uint64_t rank = design::recipe_rank(*rule, m.rows, m.cols, form);
        pruned.push_back({{"layer", m.layer}, {"tensor", m.role}, {"rank", rank}});
        layers.insert(m.layer), roles.insert(m.role), pairs.insert({m.layer, m.role});
    }
    if (pruned.empty()) throw usage_error("--recipe '" + where + "' selects no module of this model (targets match none of "
                                          "its module names, e.g. '" + (mods.empty() ? "" : mods.front().module) + "')");
    for (auto l : layers)
        for (const auto& role : roles)
            if (!pairs.count({l, role}))
                throw usage_error("--recipe '" + where + "' selects " + role + " in some layers but not in layer " +
                                  std::to_string(l) + " (0-based); decompose needs whole layers × tensors (γ)");
    return {{"format", "lowrank.gamma"}, {"version", 1}, {"model", model}, {"method", form == factor_form::svd ? "svd" : "tucker2"},
            {"indexing", 0}, {"layers", std::vector<std::size_t>(layers.begin(), layers.end())},
            {"tensors", std::vector<std::string>(roles.begin(), roles.end())}, {"pruned_ranks", pruned}};
}

/// The recipe that reproduces an output: its decomposed modules (literal names) and ranks.
inline nlohmann::json recipe_of_output(const std::string& method, const std::vector<std::pair<std::string, std::uint64_t>>& ranks,
                                       const nlohmann::json& source) {
    design::recipe r = design::recipe_from_ranks(method, ranks);
    r.source = source;
    return design::to_json(r);
}

/// A file in the temp directory holding `text`, removed by the destructor.
struct temp_text_file {
    std::string path;
    explicit temp_text_file(const std::string& text) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "lowrank-recipe-gamma-XXXXXX").string();
        const int fd = ::mkstemp(tmpl.data());
        if (fd < 0) throw std::runtime_error("cannot create a temporary file in " + std::filesystem::temp_directory_path().string());
        ::close(fd);
        path = tmpl;
        std::ofstream(path) << text;
    }
    temp_text_file(const temp_text_file&) = delete;
    temp_text_file& operator=(const temp_text_file&) = delete;
    ~temp_text_file() { std::remove(path.c_str()); }
};

}  // namespace lowrank::cli
