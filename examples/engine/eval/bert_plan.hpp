// A γ (lowrank plan output for a BERT-family model) applied to the runtime's BERT weights in
// memory: runtime::apply_plan (runtime/plan.hpp), the same walk the Llama runtime uses.
#pragma once

#include "lowrank/design/architecture.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "runtime/bert.hpp"
#include "runtime/plan.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace lowrank::eval {

/// The design architecture of the runtime's BERT config, named as γ names its model.
inline design::architecture bert_architecture(const runtime::bert_config& c, const nlohmann::json& gamma) {
    return design::make_bert(gamma.value("model", std::string("model")), c.hidden, c.intermediate, c.layers, c.heads);
}

/// γ's library id ("g-…", design::stable_id): its own "id" field when it has one (from_json
/// checks it matches), else computed. Throws invalid_argument when γ does not fit the model.
inline std::string gamma_id_bert(const runtime::bert_config& c, const nlohmann::json& gamma) {
    const auto arch = bert_architecture(c, gamma);
    const auto g = design::from_json(arch, gamma);
    return gamma.contains("id") ? gamma["id"].get<std::string>() : design::stable_id(arch, g);
}

/// Factorises the layers γ names; returns how many were factorised (layers whose
/// factorisation would not save parameters stay dense).
inline std::size_t apply_plan_bert(runtime::exec_context& ex, runtime::bert_weights& w, const nlohmann::json& gamma) {
    const auto arch = bert_architecture(w.cfg, gamma);
    std::size_t done = 0;
    for (const auto& s : runtime::apply_plan(ex, w, arch, gamma)) done += !s.kept_dense;
    return done;
}

}  // namespace lowrank::eval
