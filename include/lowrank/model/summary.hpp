// What a model file holds, as one JSON document: the summary `lowrank inspect` prints (its
// --json output verbatim; the text output is a rendering of the same document). The library
// builds it; drivers print it.
//
// summarize(path) decides by content (detect_file_kind), never by name:
//
//   a lowrank factorised file   {"format": "lowrank.factorized", path, the manifest's architecture /
//                               method / form / gamma_id / source (when present), parameters_before,
//                               parameters_after, reduction = 1 - after/before, tensors: [{name, shape,
//                               dtype, factored, parameters_before, parameters_after, and for a
//                               factorised weight form, rank, rel_error (when recorded)}] in file order}
//   anything model_source opens {"format": "gguf" | "safetensors", path, architecture (family),
//                               architecture_source, layers, tied_embeddings, parameters,
//                               decomposable_parameters, parameters_by_kind {kind: n},
//                               unknown_tensors, missing_weights ("layer.role"), design_space
//                               {layers, tensors_per_layer, uniform_rank, theorem_3_1,
//                               theorem_3_1_log2, study_exponent, per_tensor_rank,
//                               per_tensor_rank_log2} (design/counting.hpp), tensors: [{name, kind,
//                               role (null outside a block's weights), layer (null outside blocks),
//                               dtype, shape, parameters}]}
//
// Tensor order: GGUF in file order; safetensors (file, index, directory) sorted by name, and so
// are unknown_tensors. Errors: those of model_source::open / factorized_model (io_error naming the
// file, architecture_error for an unknown family).
#pragma once

#include "lowrank/io/factorized.hpp"
#include "lowrank/model/family.hpp"
#include "lowrank/model/plan.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace lowrank::model {

/// The summary of a lowrank factorised file (see the file comment).
inline nlohmann::json summarize(const factorized_model& f) {
    const auto& man = f.manifest();
    const std::uint64_t before = f.parameters_before(), after = f.parameters_after();
    nlohmann::json j;
    j["path"] = f.path();
    j["format"] = "lowrank.factorized";
    for (const char* k : {"architecture", "method", "form", "gamma_id", "source"})
        if (man.contains(k)) j[k] = man[k];
    j["parameters_before"] = before;
    j["parameters_after"] = after;
    j["reduction"] = before ? 1.0 - static_cast<double>(after) / static_cast<double>(before) : 0.0;
    auto& ts = j["tensors"] = nlohmann::json::array();
    for (const auto& t : f.tensors()) {
        nlohmann::json e{{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"factored", t.factored},
                         {"parameters_before", t.parameters_before()}, {"parameters_after", t.parameters_after()}};
        if (t.factored) {
            e["form"] = lowrank::to_string(t.form);
            e["rank"] = t.rank;
            if (t.info.contains("rel_error")) e["rel_error"] = t.info["rel_error"];
        }
        ts.push_back(std::move(e));
    }
    return j;
}

/// The summary of a model file opened by model_source (see the file comment).
inline nlohmann::json summarize(const model_source& m) {
    const bool gguf = m.format() == source_format::gguf;
    std::vector<tensor_entry> tensors = m.tensors();
    std::vector<std::string> unknown = m.layout().unknown;
    if (!gguf) {
        std::sort(tensors.begin(), tensors.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
        std::sort(unknown.begin(), unknown.end());
    }
    const parameter_counts counts = count_parameters(m);
    std::map<std::string, std::uint64_t> by_kind;
    for (const auto& [k, n] : counts.by_kind) by_kind[std::string(to_string(k))] = n;
    const auto ds = design_space_of(m);
    nlohmann::json j;
    j["path"] = m.path();
    j["format"] = gguf ? "gguf" : "safetensors";
    j["architecture"] = std::string(to_string(m.family()));
    j["architecture_source"] = m.family_source();
    j["layers"] = m.layout().layers;
    j["tied_embeddings"] = m.layout().tied_embeddings;
    j["parameters"] = counts.total;
    j["decomposable_parameters"] = counts.decomposable;
    j["parameters_by_kind"] = by_kind;
    j["unknown_tensors"] = unknown;
    j["missing_weights"] = m.layout().missing;
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
                      {"kind", std::string(to_string(t.cls.kind))},
                      {"role", t.cls.role == role::none ? nlohmann::json(nullptr) : nlohmann::json(std::string(to_string(t.cls.role)))},
                      {"layer", t.cls.layer < 0 ? nlohmann::json(nullptr) : nlohmann::json(t.cls.layer)},
                      {"dtype", t.dtype},
                      {"shape", t.shape},
                      {"parameters", numel(t.shape)}});
    return j;
}

/// The summary of whatever `path` holds: a factorised file's (judged by content), else the model's.
inline nlohmann::json summarize(const std::string& path) {
    if (detect_file_kind(path) == file_kind::factorized) return summarize(factorized_model(path));
    return summarize(model_source::open(path));
}

}  // namespace lowrank::model
