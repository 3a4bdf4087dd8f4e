// The γ walker (lowrank/model/plan.hpp). References: γ documents written by hand for the catalog
// and for a tiny generated model, the model's own tensor names, and the break-even rule.
#include "decompose/decompose_test_util.hpp"

#include "lowrank/design/gamma_json.hpp"
#include "lowrank/model/plan.hpp"

#include <doctest/doctest.h>

using lowrank::model::model_source;
using R = lowrank::model::role;

TEST_CASE("weights_of: one planned weight per PR triple, in layer then block order, with its shape") {
    const auto& a = lowrank::design::find_architecture("smollm2-135m");
    const auto g = lowrank::design::from_json(a, nlohmann::json::parse(
        R"({"model": "smollm2-135m", "method": "svd", "indexing": 0, "layers": [4, 2], "tensors": ["down", "q"],
            "ranks": {"q": 300, "down": 64}})"));
    const auto ws = lowrank::model::weights_of(a, g);
    REQUIRE(ws.size() == 4);
    CHECK(ws[0].layer == 2);
    CHECK(ws[0].role == R::q);
    CHECK(ws[1].role == R::down);
    CHECK(ws[3].layer == 4);
    CHECK(ws[0].rows == 576);
    CHECK(ws[0].cols == 576);
    CHECK(ws[1].rows == 576);
    CHECK(ws[1].cols == 1536);
    CHECK(ws[0].name.empty());
    // q at rank 300 in svd form: (576 + 576)·300 > 576², so it saves nothing; down at 64 does.
    CHECK_FALSE(ws[0].saves());
    CHECK(ws[1].saves());
    CHECK(ws[1].parameters_after() == (576 + 1536) * 64);
    CHECK(ws[1].parameters_before() == 576 * 1536);
}

TEST_CASE("read_gamma: γ for a model file, by catalog name or the file's own description") {
    dtest::temp_dir d("plan");
    dtest::write_tiny_hf(d.path / "hf", dtest::tiny_llama());
    dtest::write_tiny_gguf(d / "tiny.gguf", dtest::tiny_llama());
    const auto gamma = nlohmann::json::parse(dtest::gamma_json("tiny", {0, 2}, {{"q", 2}, {"down", 3}}, "tucker2"));
    for (const std::string& path : {(d.path / "hf").string(), d / "tiny.gguf"}) {
        CAPTURE(path);
        const model_source m = model_source::open(path);
        const auto p = lowrank::model::read_gamma(gamma, m);
        CHECK(p.arch.name == "tiny");
        CHECK(p.arch.layers == dtest::L);
        REQUIRE(p.weights.size() == 4);
        CHECK(p.weights[0].name == m.layout().weights[0].at(R::q));
        CHECK(p.weights[3].name == m.layout().weights[2].at(R::down));
        CHECK(p.weights[3].rank == 3);
        CHECK(p.plan_id == p.id);
        CHECK(p.id == lowrank::design::stable_id(p.arch, p.gamma));
        // A form override changes the applied γ and its id, not the plan's.
        const auto q = lowrank::model::read_gamma(gamma, m, lowrank::factor_form::svd);
        CHECK(q.gamma.method == lowrank::factor_form::svd);
        CHECK(q.plan_id == p.plan_id);
        CHECK(q.id != p.id);
        CHECK(q.weights[0].form == lowrank::factor_form::svd);
    }
    const model_source m = model_source::open((d.path / "hf").string());
    auto bad = [&](const std::string& text, const char* expect) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(lowrank::model::read_gamma(nlohmann::json::parse(text), m), doctest::Contains(expect),
                             lowrank::error);
    };
    bad(dtest::gamma_json("smollm2-135m", {1}, {{"q", 1}}), "layers");       // catalog model of another size
    bad(dtest::gamma_json("tiny", {3}, {{"q", 1}}), "out of range");         // layer past the model
    bad(dtest::gamma_json("tiny", {0}, {{"k", 9}}), "exceeds the tensor's rank");
    bad(dtest::gamma_json("tiny", {0}, {{"attn-out", 1}}), "unknown tensor role");
    bad(R"({"layers": []})", "no \"model\" field");
    bad(dtest::gamma_json("minilm-l6", {0}, {{"q", 1}}), "bert family");
}

TEST_CASE("design_space_of: the file's own layers and ranks, as the design-space counts give them") {
    dtest::temp_dir d("ds");
    dtest::write_tiny_hf(d.path / "hf", dtest::tiny_llama());
    const auto ds = lowrank::model::design_space_of(model_source::open((d.path / "hf").string()));
    // 3 layers; ranks min(out, in) of q, k, v, o, gate, up, down = 16, 8, 8, 16, 16, 16, 16.
    const auto ref = lowrank::design::count_design_space(3, {16, 8, 8, 16, 16, 16, 16});
    CHECK(ds.layers == 3);
    CHECK(ds.tensors == 7);
    CHECK(ds.theorem_3_1.to_string() == ref.theorem_3_1.to_string());
    CHECK(ds.per_tensor.to_string() == ref.per_tensor.to_string());
}
