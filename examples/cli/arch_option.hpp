// `--arch NAME | --config FILE`, shared by `lowrank plan` and `lowrank design-space`: a catalog
// architecture (lowrank/design/architecture.hpp) or one read from a Hugging Face config.json,
// named after the config's directory (…/Llama-2-7b-hf/config.json → Llama-2-7b-hf).
#pragma once

#include "cli/command.hpp"

#include "lowrank/design/architecture.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace lowrank::cli {

/// The architecture the options name; usage_error (prefixed with `cmd`) otherwise.
inline design::architecture load_architecture(const std::string& name, const std::string& config_path, const std::string& cmd) {
    if (name.empty() == config_path.empty()) throw usage_error(cmd + ": give exactly one of --arch NAME or --config FILE");
    if (!name.empty()) {
        try {
            return design::find_architecture(name);
        } catch (const lowrank::error& e) {
            throw usage_error(cmd + ": --arch: " + e.what());
        }
    }
    std::ifstream in(config_path);
    if (!in) throw usage_error(cmd + ": --config: cannot open '" + config_path + "'");
    try {
        const auto j = nlohmann::json::parse(in);
        std::string stem;
        if (auto slash = config_path.find_last_of('/'); slash != std::string::npos) {
            const std::string dir = config_path.substr(0, slash);
            const auto s2 = dir.find_last_of('/');
            stem = s2 == std::string::npos ? dir : dir.substr(s2 + 1);
        }
        return design::from_hf_config(j, stem);
    } catch (const nlohmann::json::exception& e) {
        throw usage_error(cmd + ": --config '" + config_path + "': not valid JSON: " + e.what());
    } catch (const lowrank::error& e) {
        throw usage_error(cmd + ": --config '" + config_path + "': " + e.what());
    }
}

}  // namespace lowrank::cli
