// `--arch NAME | --config FILE | --model MODEL`, shared by `lowrank plan` and `lowrank
// design-space`: a catalog architecture (lowrank/design/architecture.hpp), one read from a Hugging
// Face config.json, named after the config's directory (…/Llama-2-7b-hf/config.json →
// Llama-2-7b-hf), or the one a model file describes (model_source::architecture: its config.json
// or GGUF metadata, tied embeddings when it has no separate output weight), named after the file
// (its stem; a directory's name). A catalog entry describes the published model; a file can differ
// (e.g. a GGUF of a tied model that stores output.weight separately), and parameter counts meant
// to match what `eval` and `compress` count on that file need --model.
#pragma once

#include "cli/command.hpp"

#include "lowrank/design/architecture.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace lowrank::cli {

/// The three options on `sub` (exactly one must be given; load_architecture checks).
struct arch_options {
    std::string arch, config, model;

    void add_to(CLI::App* sub) {
        auto* a = sub->add_option("--arch", arch, "catalog model: llama2-7b, llama2-13b, llama2-70b, bert-base, bert-large, "
                                                  "smollm2-135m, minilm-l6, qwen2.5-0.5b, qwen2.5-1.5b");
        auto* c = sub->add_option("--config", config, "Hugging Face config.json instead of --arch");
        auto* m = sub->add_option("--model", model, "a model file (GGUF, safetensors, HF directory): the architecture it describes");
        a->excludes(c)->excludes(m);
        c->excludes(m);
    }
};

/// The architecture the options name; usage_error (prefixed with `cmd`) otherwise.
inline design::architecture load_architecture(const arch_options& o, const std::string& cmd) {
    const std::string &name = o.arch, &config_path = o.config;
    if (int(!name.empty()) + int(!config_path.empty()) + int(!o.model.empty()) != 1)
        throw usage_error(cmd + ": give exactly one of --arch NAME, --config FILE or --model MODEL");
    if (!o.model.empty()) {
        std::error_code ec;
        if (!std::filesystem::exists(o.model, ec)) throw usage_error(cmd + ": --model: " + o.model + ": no such file or directory");
        std::filesystem::path p(o.model);
        if (p.filename().empty()) p = p.parent_path();
        try {
            return model::model_source::open(o.model).architecture(std::filesystem::is_directory(p) ? p.filename().string()
                                                                                                  : p.stem().string());
        } catch (const lowrank::error& e) {
            throw usage_error(cmd + ": --model: " + e.what());
        }
    }
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
