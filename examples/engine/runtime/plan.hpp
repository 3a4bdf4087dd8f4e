// A configuration γ applied to loaded weights in memory (Llama and BERT alike): the library walks
// γ (lowrank/model/plan.hpp: which weight, which rank) and factorises each named layer with the
// same call `lowrank decompose` uses (lowrank/model/factorise.hpp, via runtime::factorise). A
// layer whose factorisation would not save parameters — and hence FLOPs per token — stays dense
// (saves_parameters, the library's one break-even rule) and its step says so.
#pragma once

#include "lowrank/design/architecture.hpp"
#include "lowrank/design/gamma_json.hpp"
#include "lowrank/model/plan.hpp"
#include "runtime/linear.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace lowrank::runtime {

/// What apply_plan did to one layer.
struct plan_step {
    std::size_t layer = 0;
    model::role role = model::role::none;
    std::size_t rank = 0;
    linear_form form = linear_form::dense;
    bool kept_dense = false;  ///< the factorised layer would have at least as many parameters as the dense one
};

/// Factorises the layers γ names (SVD, or 2-D Tucker by HOSVD, at γ's ranks) in `w`, whose
/// blocks give their layers by role (`blocks[l].by_role(role)`). `arch` describes `w` (γ is read
/// and validated against it: invalid_argument / rank_error otherwise). With
/// `keep_dense_when_larger`, a layer that saves_parameters() rejects stays dense.
template <class Weights>
std::vector<plan_step> apply_plan(exec_context& ex, Weights& w, const design::architecture& arch,
                                  const nlohmann::json& gamma, bool keep_dense_when_larger = true) {
    const design::configuration g = design::from_json(arch, gamma);
    const linear_form form = g.method == factor_form::svd ? linear_form::svd : linear_form::tucker2;
    std::vector<plan_step> steps;
    for (const auto& pw : model::weights_of(arch, g)) {
        plan_step s{pw.layer, pw.role, static_cast<std::size_t>(pw.rank), form};
        linear* l = w.blocks.at(s.layer).by_role(s.role);
        if (!l) throw invalid_argument("apply_plan: the model's blocks have no " + std::string(model::to_string(s.role)) + " layer");
        if (keep_dense_when_larger && !saves_parameters(l->out, l->in, s.rank, g.method)) {
            s.kept_dense = true;
            s.form = linear_form::dense;
        } else {
            *l = factorise(ex, *l, s.rank, form);
        }
        steps.push_back(s);
    }
    return steps;
}

}  // namespace lowrank::runtime
