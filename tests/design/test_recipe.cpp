// Recipes (lowrank/design/recipe.hpp): parsing and its errors, module selection, ranks from
// keep_ratio against the closed-form bound, and the recipe of an explicit rank assignment.
#include <doctest/doctest.h>

#include "lowrank/design/recipe.hpp"

#include <algorithm>
#include <cmath>
#include <string>

using namespace lowrank;
using namespace lowrank::design;
using nlohmann::json;

namespace {
json base() {
    return {{"format", "lowrank.recipe"}, {"version", 1}, {"method", "svd"},
            {"targets", {"model\\.layers\\.\\d+\\.mlp\\.(gate|up|down)_proj"}}, {"ignore", {"model\\.layers\\.0\\..*"}},
            {"rank", 64}};
}
std::string error_of(const json& j) {
    try {
        recipe_from_json(j);
    } catch (const invalid_argument& e) {
        return e.what();
    }
    return {};
}
}  // namespace

TEST_CASE("recipe: parse, canonical JSON round trip, selection with ignore and overrides") {
    json j = base();
    j["overrides"] = {{{"targets", {".*\\.down_proj"}}, {"keep_ratio", 0.25}}};
    j["calibration"] = {{"dataset", "austen"}, {"samples", 128}};
    const recipe r = recipe_from_json(j);
    CHECK(r.method == "svd");
    CHECK(*r.rule.rank == 64);
    REQUIRE(r.overrides.size() == 1);
    CHECK(recipe_from_json(to_json(r)).overrides.size() == 1);
    CHECK(to_json(recipe_from_json(to_json(r))) == to_json(r));
    CHECK(to_json(r)["calibration"]["samples"] == 128);
    // full match, ignore wins, first override wins
    CHECK(recipe_rule_for(r, "model.layers.3.mlp.up_proj") == &r.rule);
    CHECK(recipe_rule_for(r, "model.layers.3.mlp.down_proj") == &r.overrides[0]);
    CHECK(recipe_rule_for(r, "model.layers.0.mlp.up_proj") == nullptr);
    CHECK(recipe_rule_for(r, "model.layers.3.self_attn.q_proj") == nullptr);
    CHECK(recipe_rule_for(r, "model.layers.3.mlp.up_proj.extra") == nullptr);  // full match only
}

TEST_CASE("recipe: malformed recipes name the field") {
    auto with = [](const char* key, json v) {
        json j = base();
        j[key] = v;
        return j;
    };
    json both = base();
    both["keep_ratio"] = 0.5;
    json neither = base();
    neither.erase("rank");
    json no_targets = base();
    no_targets.erase("targets");
    CHECK(error_of(with("bogus", 1)).find("unknown field 'bogus'") != std::string::npos);
    CHECK(error_of(with("format", "x")).find("'format'") != std::string::npos);
    CHECK(error_of(with("version", 2)).find("'version'") != std::string::npos);
    CHECK(error_of(both).find("exactly one of 'rank' and 'keep_ratio'") != std::string::npos);
    CHECK(error_of(neither).find("exactly one") != std::string::npos);
    CHECK(error_of(no_targets).find("'targets' is missing") != std::string::npos);
    CHECK(error_of(with("targets", json::array())).find("'targets' is empty") != std::string::npos);
    CHECK(error_of(with("targets", {"model.("})).find("not a regular expression") != std::string::npos);
    CHECK(error_of(with("ignore", "x")).find("'ignore' must be an array") != std::string::npos);
    CHECK(error_of(with("rank", 0)).find("rank must be a positive integer") != std::string::npos);
    CHECK(error_of(with("rank", -3)).find("rank must be a positive integer") != std::string::npos);
    json ratio = base();
    ratio.erase("rank");
    ratio["keep_ratio"] = 1.5;
    CHECK(error_of(ratio).find("keep_ratio must be a number in (0, 1]") != std::string::npos);
    CHECK(error_of(with("overrides", {{{"targets", {"x"}}, {"rank", 2}, {"oops", 1}}})).find("overrides[0]: unknown field 'oops'") !=
          std::string::npos);
    CHECK(error_of(with("overrides", {{{"targets", {"x"}}}})).find("overrides[0] needs exactly one") != std::string::npos);
    CHECK(error_of(json::array()).find("not a JSON object") != std::string::npos);
}

TEST_CASE("recipe: ranks from keep_ratio are the largest within ρ·m·n (closed form for svd), rank capped") {
    for (std::uint64_t m : {16u, 576u, 1536u})
        for (std::uint64_t n : {16u, 576u, 4096u})
            for (double rho : {0.01, 0.1, 0.25, 0.5, 0.99, 1.0}) {
                CAPTURE(m);
                CAPTURE(n);
                CAPTURE(rho);
                recipe_rule rule{{}, {}, rho};
                // svd form: r(m + n) ≤ ρ m n  ⇔  r ≤ ρ m n / (m + n); at least 1, at most min(m, n)
                const auto bound = static_cast<std::uint64_t>(std::floor(rho * double(m) * double(n) / double(m + n)));
                CHECK(recipe_rank(rule, m, n, factor_form::svd) == std::clamp<std::uint64_t>(bound, 1, std::min(m, n)));
                const auto r2 = recipe_rank(rule, m, n, factor_form::tucker2);  // r(m + n) + r² ≤ ρ m n
                CHECK(r2 >= 1);
                if (r2 > 1) CHECK(double(r2 * (m + n) + r2 * r2) <= rho * double(m) * double(n));
                if (r2 < std::min(m, n)) CHECK(double((r2 + 1) * (m + n) + (r2 + 1) * (r2 + 1)) > rho * double(m) * double(n));
            }
    recipe_rule fixed{{}, std::uint64_t(5000), {}};
    CHECK(recipe_rank(fixed, 576, 1536, factor_form::svd) == 576);
}

TEST_CASE("recipe: the recipe of an explicit assignment selects exactly those modules with their ranks") {
    const std::vector<std::pair<std::string, std::uint64_t>> ranks{
        {"model.layers.2.mlp.up_proj", 320}, {"model.layers.2.mlp.down_proj", 64}, {"model.layers.10.mlp.up_proj", 320}};
    const recipe r = recipe_from_json(to_json(recipe_from_ranks("tucker2", ranks)));
    CHECK(r.method == "tucker2");
    for (const auto& [mod, rank] : ranks) {
        const recipe_rule* rule = recipe_rule_for(r, mod);
        REQUIRE(rule != nullptr);
        CHECK(recipe_rank(*rule, 1536, 576, factor_form::tucker2) == rank);
    }
    CHECK(recipe_rule_for(r, "model.layers.1.mlp.up_proj") == nullptr);
    CHECK(recipe_rule_for(r, "model.layers.2.mlp.gate_proj") == nullptr);
    CHECK(recipe_rule_for(r, "model.layers.2Xmlp.up_proj") == nullptr);  // dots are escaped
}
