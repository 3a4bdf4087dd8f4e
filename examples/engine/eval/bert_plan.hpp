// A γ (lowrank plan output for a BERT-family model) applied to the runtime's BERT weights in
// memory: runtime::apply_plan (runtime/plan.hpp), the same walk the Llama runtime uses.
#pragma once

#include "lowrank/design/architecture.hpp"
#include "runtime/bert.hpp"
#include "runtime/plan.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace lowrank::eval {

/// Factorises the layers γ names; returns how many were factorised (layers whose
/// factorisation would not save parameters stay dense).
inline std::size_t apply_plan_bert(runtime::exec_context& ex, runtime::bert_weights& w, const nlohmann::json& gamma) {
    const auto& c = w.cfg;
    const auto arch = design::make_bert(gamma.value("model", std::string("model")), c.hidden, c.intermediate, c.layers,
                                        c.heads);
    std::size_t done = 0;
    for (const auto& s : runtime::apply_plan(ex, w, arch, gamma)) done += !s.kept_dense;
    return done;
}

}  // namespace lowrank::eval
