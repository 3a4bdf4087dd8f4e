// Architecture catalogs, validity (Proposition 3.1) and γ JSON (round trip, stable id, rejection).
// References: published parameter counts of each model (Hugging Face model cards / safetensors
// totals), the study's Definitions 3.2–3.4, and hand-written bad γ documents.
#include "lowrank/design/architecture.hpp"
#include "lowrank/design/configuration.hpp"
#include "lowrank/design/gamma_json.hpp"

#include <doctest/doctest.h>

using namespace lowrank;
using namespace lowrank::design;
using nlohmann::json;

TEST_CASE("catalog parameter counts match the published model sizes") {
    CHECK(find_architecture("llama2-7b").total_parameters() == 6738415616ull);
    CHECK(find_architecture("llama2-13b").total_parameters() == 13015864320ull);
    CHECK(find_architecture("llama2-70b").total_parameters() == 68976648192ull);
    CHECK(find_architecture("bert-base").total_parameters() == 109482240ull);
    CHECK(find_architecture("bert-large").total_parameters() == 335141888ull);
    CHECK(find_architecture("smollm2-135m").total_parameters() == 134515008ull);
    CHECK(find_architecture("minilm-l6").total_parameters() == 22713216ull);
    CHECK(find_architecture("qwen2.5-0.5b").total_parameters() == 494032768ull);
    CHECK(find_architecture("qwen2.5-1.5b").total_parameters() == 1543714304ull);
    CHECK_THROWS_AS(find_architecture("gpt2"), invalid_argument);
    const auto& l7 = find_architecture("llama2-7b");
    CHECK(l7.tensors_per_layer() == 7);
    CHECK(l7.linear_parameters_per_layer() == 4ull * 4096 * 4096 + 3ull * 4096 * 11008);
    CHECK(l7.tensors()[6].role_name() == "down");
    CHECK(l7.tensors()[6].rows == 4096);
    CHECK(l7.tensors()[6].cols == 11008);
    const auto& l70 = find_architecture("llama2-70b");
    CHECK(l70.tensors()[1].rows == 1024);  // GQA: 8 KV heads × 128
    CHECK(find_architecture("bert-base").tensors()[3].role_name() == "attn-out");
    CHECK(find_architecture("bert-base").role_index("o") == 3);
    CHECK_THROWS_AS(l7.role_index("intermediate"), invalid_argument);
}

TEST_CASE("architecture from a Hugging Face config.json") {
    const json llama = json::parse(R"({"model_type":"llama","hidden_size":4096,"intermediate_size":11008,
        "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":32,"vocab_size":32000,
        "tie_word_embeddings":false})");
    CHECK(from_hf_config(llama).total_parameters() == 6738415616ull);
    const json qwen = json::parse(R"({"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,
        "num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"vocab_size":151936,
        "tie_word_embeddings":true})");
    CHECK(from_hf_config(qwen, "q").total_parameters() == 494032768ull);
    const json bert = json::parse(R"({"model_type":"bert","hidden_size":384,"intermediate_size":1536,
        "num_hidden_layers":6,"num_attention_heads":12,"vocab_size":30522,"max_position_embeddings":512,
        "type_vocab_size":2})");
    CHECK(from_hf_config(bert).total_parameters() == 22713216ull);
    json missing = llama;
    missing.erase("hidden_size");
    CHECK_THROWS_WITH_AS(from_hf_config(missing), doctest::Contains("hidden_size"), invalid_argument);
    json gpt = llama;
    gpt["model_type"] = "gpt2";
    CHECK_THROWS_WITH_AS(from_hf_config(gpt), doctest::Contains("gpt2"), invalid_argument);
    json bad = llama;
    bad["num_key_value_heads"] = 5;
    CHECK_THROWS_AS(from_hf_config(bad), invalid_argument);
}

TEST_CASE("validity: Proposition 3.1 in its coverage form") {
    const auto& a = find_architecture("llama2-7b");
    const auto good = make_uniform(a, {2, 17, 31}, all_tensors(a), 1);
    CHECK(is_valid(a, good));
    CHECK(good.ranks.size() == 3 * 7);  // |PR| = |L|·|T|
    configuration none;
    none.model = a.name;
    CHECK(is_valid(a, none));

    auto bad = good;
    bad.layers.push_back(32);
    CHECK(invalid_reason(a, bad)->find("out of range") != std::string::npos);
    bad = good;
    bad.ranks.pop_back();
    CHECK(invalid_reason(a, bad)->find("cover") != std::string::npos);
    bad = good;
    bad.ranks.push_back({2, 0, 1});
    bad.normalise();
    CHECK(invalid_reason(a, bad)->find("duplicate") != std::string::npos);
    bad = good;
    bad.ranks.front().rank = 0;
    CHECK_THROWS_AS(validate(a, bad), rank_error);
    bad = good;
    bad.ranks.front().rank = 4097;
    CHECK_THROWS_AS(validate(a, bad), rank_error);
    bad = good;
    bad.ranks.push_back({5, 0, 1});  // layer 5 is not decomposed
    bad.normalise();
    CHECK(!is_valid(a, bad));
    bad = make_uniform(a, {1}, {0, 1}, 1);
    bad.ranks.push_back({1, 2, 1});  // tensor v not in Decomp_Tensors
    bad.normalise();
    CHECK(invalid_reason(a, bad)->find("not decomposed") != std::string::npos);
    bad = none;
    bad.layers = {0};  // layers but no tensors: not the canonical undecomposed model
    CHECK(!is_valid(a, bad));
    bad = good;
    bad.layers.push_back(2);
    CHECK(invalid_reason(a, bad)->find("duplicate layer") != std::string::npos);
    bad = good;
    bad.model = "bert-base";
    CHECK(!is_valid(a, bad));

    // The study's size condition |PR| = (|L|−1)(|T|−1)+1 accepts a PR that leaves pairs
    // uncovered: |L| = |T| = 2 gives 2 triples for 4 pairs. The coverage condition rejects it.
    configuration study;
    study.model = a.name;
    study.layers = {3, 4};
    study.tensors = {0, 1};
    study.ranks = {{3, 0, 1}, {4, 1, 1}};
    CHECK(study.ranks.size() == (study.layers.size() - 1) * (study.tensors.size() - 1) + 1);
    CHECK(!is_valid(a, study));
}

TEST_CASE("gamma JSON round trip and stable id") {
    const auto& a = find_architecture("llama2-7b");
    const auto g = make_uniform(a, {2, 17, 31}, all_tensors(a), 1);
    const json j1 = to_json(a, g, 1);
    CHECK(j1.at("indexing") == 1);
    CHECK(j1.at("layers") == json::array({3, 18, 32}));
    CHECK(j1.at("tensors").size() == 7);
    CHECK(j1.at("ranks").at("down") == 1);
    CHECK(from_json(a, j1) == g);
    CHECK(from_json(a, json::parse(j1.dump(2))) == g);
    const json j0 = to_json(a, g, 0);
    CHECK(from_json(a, j0) == g);
    CHECK(j0.at("id") == j1.at("id"));  // the id does not depend on the indexing base
    CHECK(stable_id(a, g) == stable_id(a, from_json(a, j1)));
    CHECK(stable_id(a, g).size() == 18);
    CHECK(stable_id(a, g) != stable_id(a, make_uniform(a, {2, 17, 30}, all_tensors(a), 1)));
    CHECK(stable_id(a, g) != stable_id(a, make_uniform(a, {2, 17, 31}, all_tensors(a), 1, factor_form::svd)));
    CHECK(stable_id(a, g) != stable_id(a, make_uniform(a, {2, 17, 31}, all_tensors(a), 2)));

    // Per-(layer, tensor) ranks use the explicit pruned_ranks form.
    auto mixed = make_uniform(a, {0, 1}, {0, 6}, 8);
    mixed.ranks[0].rank = 16;
    const json jm = to_json(a, mixed, 1);
    CHECK(jm.contains("pruned_ranks"));
    CHECK(!jm.contains("ranks"));
    CHECK(from_json(a, jm) == mixed);
    // Per-role ranks round-trip through "ranks".
    auto per_role = make_uniform(a, {4, 5}, {0, 6}, 8);
    for (auto& t : per_role.ranks)
        if (t.tensor == 6) t.rank = 32;
    const json jr = to_json(a, per_role, 0);
    CHECK(jr.at("ranks").at("q") == 8);
    CHECK(jr.at("ranks").at("down") == 32);
    CHECK(from_json(a, jr) == per_role);
    // The undecomposed model.
    configuration none;
    none.model = a.name;
    CHECK(from_json(a, to_json(a, none, 1)) == none);
}

TEST_CASE("gamma JSON rejects bad files with clear errors") {
    const auto& a = find_architecture("llama2-7b");
    const json base = json::parse(R"({"format":"lowrank.gamma","version":1,"model":"llama2-7b","method":"tucker2",
        "indexing":1,"layers":[3,30],"tensors":["q","k"],"ranks":{"q":1,"k":1}})");
    CHECK(from_json(a, base) == make_uniform(a, {2, 29}, {0, 1}, 1));
    auto reject = [&](auto edit, const char* needle) {
        json j = base;
        edit(j);
        CHECK_THROWS_WITH_AS(from_json(a, j), doctest::Contains(needle), lowrank::error);
    };
    reject([](json& j) { j["tensors"] = {"q", "qq"}; }, "unknown tensor role 'qq'");
    reject([](json& j) { j["layers"] = {0, 3}; }, "layer 0 out of range [1, 32]");
    reject([](json& j) { j["layers"] = {3, 33}; }, "layer 33 out of range");
    reject([](json& j) { j["ranks"]["q"] = 0; }, "rank must be positive");
    reject([](json& j) { j["ranks"]["k"] = 4097; }, "exceeds the tensor's rank 4096");
    reject([](json& j) { j["layers"] = {3, 3}; }, "duplicate layer");
    reject([](json& j) { j["tensors"] = {"q", "k", "q"}; }, "duplicate tensor");
    reject([](json& j) { j["pruned_ranks"] = json::array({{{"layer", 3}, {"tensor", "q"}, {"rank", 2}}}); }, "duplicate pruned rank");
    reject([](json& j) { j.erase("indexing"); }, "indexing");
    reject([](json& j) { j["indexing"] = 2; }, "indexing");
    reject([](json& j) { j["model"] = "llama2-13b"; }, "does not match");
    reject([](json& j) { j["method"] = "cp"; }, "method");
    reject([](json& j) { j["ranks"].erase("k"); }, "cover");
    reject([](json& j) { j["ranks"]["v"] = 1; }, "'v' is not in 'tensors'");
    reject([](json& j) { j["id"] = "g-0000000000000000"; }, "does not match the configuration");
    reject([](json& j) { j["layer"] = 1; }, "unknown field 'layer'");
    reject([](json& j) { j["layers"] = "3,30"; }, "layers");
    CHECK_THROWS_AS(from_json(a, json::array()), invalid_argument);
}
