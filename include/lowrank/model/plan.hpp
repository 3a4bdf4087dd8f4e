// Walking a configuration γ over a model's weights: the one place that turns γ's (layer, tensor,
// rank) triples into the weights they name. decompose (through read_gamma), the runtime's
// in-memory plans and the BERT plan all walk γ here, so they agree on which weights change, at
// which rank, and which ones a factorisation would not make smaller (saves_parameters,
// decomp/parameters.hpp).
//
//   weights_of(arch, γ)            one planned_weight per PR triple, in (layer, block role) order
//   weights_of(arch, γ, layout)    the same, each with its tensor name in the model file
//   read_gamma(json, source)       γ read for a model file: resolves γ's "model" (a catalog name,
//                                  else the file's own config.json / GGUF description), checks the
//                                  file is that model (family, layers, every weight's shape),
//                                  validates γ and names its weights
//
// Errors are typed: invalid_argument for a γ that does not fit the model (rank_error for rank
// problems), naming the layer, role and shape; architecture_error for an unknown family.
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/configuration.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "lowrank/model/family.hpp"
#include "lowrank/model/names.hpp"
#include "lowrank/model/source.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lowrank::model {

/// One weight γ decomposes.
struct planned_weight {
    std::string name;          ///< tensor name in the model file (empty when walked without one)
    std::size_t layer = 0;     ///< 0-based block index
    model::role role = model::role::none;
    std::size_t tensor = 0;    ///< index into design::architecture::tensors()
    std::uint64_t rank = 0;    ///< the pruned rank p
    std::uint64_t rows = 0, cols = 0;  ///< the weight's [out, in]
    factor_form form = factor_form::tucker2;  ///< γ's storage form

    std::uint64_t parameters_before() const { return dense_parameters(rows, cols); }
    std::uint64_t parameters_after() const { return factored_parameters(rows, cols, rank, form); }
    /// The break-even rule: false when the factorisation would hold at least as many parameters.
    bool saves() const { return saves_parameters(rows, cols, rank, form); }
};

/// Every weight γ touches, in PR order (by layer, then block order). γ must be valid for `arch`.
inline std::vector<planned_weight> weights_of(const design::architecture& arch, const design::configuration& g) {
    design::validate(arch, g);
    const auto specs = arch.tensors();
    std::vector<planned_weight> out;
    out.reserve(g.ranks.size());
    for (const auto& t : g.ranks) {
        const auto& s = specs.at(t.tensor);
        out.push_back({{}, static_cast<std::size_t>(t.layer), s.role, t.tensor, t.rank, s.rows, s.cols, g.method});
    }
    return out;
}

/// As weights_of(arch, γ), naming each weight after the model file's tensors; invalid_argument
/// when the file has no tensor for a (layer, role) γ decomposes.
inline std::vector<planned_weight> weights_of(const design::architecture& arch, const design::configuration& g,
                                              const model_layout& layout) {
    auto out = weights_of(arch, g);
    for (auto& w : out) {
        if (w.layer < layout.weights.size())
            if (auto it = layout.weights[w.layer].find(w.role); it != layout.weights[w.layer].end()) {
                w.name = it->second;
                continue;
            }
        throw invalid_argument("gamma decomposes (layer " + std::to_string(w.layer) + ", " +
                               std::string(to_string(w.role)) + ") but the model has no such tensor");
    }
    return out;
}

/// γ read for a model file.
struct model_plan {
    design::architecture arch;         ///< γ's model: the catalog entry, or the file's own description
    design::configuration gamma;       ///< validated against arch (in the applied form)
    std::vector<planned_weight> weights;  ///< named after the file's tensors
    std::string plan_id;               ///< design::stable_id of γ as written
    std::string id;                    ///< design::stable_id of γ as applied (differs when `form` overrides)
};

/// Reads γ (a parsed `lowrank plan` document) for `src`: see the header comment. `form`
/// overrides γ's own storage form when given (decompose --method).
inline model_plan read_gamma(const nlohmann::json& j, const model_source& src,
                             std::optional<factor_form> form = std::nullopt) {
    if (!j.is_object() || !j.contains("model") || !j["model"].is_string())
        throw invalid_argument("no \"model\" field (write plans with `lowrank plan`)");
    const std::string model = j["model"].get<std::string>();
    model_plan p;
    bool in_catalog = false;
    for (const auto& c : design::catalog())
        if (c.name == model) p.arch = c, in_catalog = true;
    if (!in_catalog) {
        try {
            p.arch = src.architecture(model);
        } catch (const lowrank::error&) {
            throw invalid_argument("gamma is for model '" + model + "', which is not in the catalog, and " + src.path() +
                                   " has no config.json / GGUF metadata to describe it");
        }
    }
    // The file must be the model γ was made for: same family, block count and weight shapes.
    if (is_decoder(p.arch.kind) != is_decoder(src.family()))
        throw invalid_argument("gamma is for '" + model + "' (" + std::string(to_string(p.arch.kind)) + " family) but " +
                               src.path() + " is a " + std::string(to_string(src.family())) + " model");
    if (p.arch.layers != src.layout().layers)
        throw invalid_argument("gamma is for '" + model + "' with " + std::to_string(p.arch.layers) + " layers but " +
                               src.path() + " has " + std::to_string(src.layout().layers));
    const auto specs = p.arch.tensors();
    for (const auto& t : src.tensors()) {
        if (!t.cls.decomposable()) continue;
        const auto& s = specs[p.arch.role_index(t.cls.role)];
        if (t.shape.size() != 2 || t.shape[0] != s.rows || t.shape[1] != s.cols)
            throw invalid_argument("gamma is for '" + model + "', whose " + s.role_name() + " weights are " +
                                   std::to_string(s.rows) + "×" + std::to_string(s.cols) + ", but " + src.path() +
                                   " has " + t.name + " of shape " + lowrank::to_string(t.shape));
    }
    p.gamma = design::from_json(p.arch, j);
    p.plan_id = design::stable_id(p.arch, p.gamma);
    if (form) p.gamma.method = *form;
    p.id = design::stable_id(p.arch, p.gamma);
    p.weights = weights_of(p.arch, p.gamma, src.layout());
    return p;
}

}  // namespace lowrank::model
